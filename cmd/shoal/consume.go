package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// defaultFormat is --format's default: the value and a newline.
const defaultFormat = `%v\n`

// runConsume is `shoal consume`: print records until interrupted, --count or --exit-at-end.
func runConsume(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return consumeMain(ctx, args, stdout, stderr)
}

// consumeMain is runConsume with its context passed in (for tests). Ending ctx (Ctrl-C) ends
// the consumer normally: exit code 0.
func consumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("consume", "consume --topic T [--brokers ADDR[,ADDR...]] [--partition N] "+
		"[--from earliest|latest|offset:N|id:ID|time:RFC3339] [--group G --consumer C [--no-ack]] [--exit-at-end] [--count N] [--format FMT | --json]", stderr)
	brokers := brokersFlag(fs)
	topic := fs.String("topic", "", "topic to read (required)")
	partition := fs.Int("partition", -1, "read only partition N (default: every partition)")
	fromText := fs.String("from", "earliest", "where to start: earliest, latest, offset:N, id:MS-SEQ or time:RFC3339")
	exitAtEnd := fs.Bool("exit-at-end", false, "exit once every partition read has been read to its end")
	count := fs.Int("count", 0, "exit after printing N records (default: no limit)")
	formatText := fs.String("format", defaultFormat, "how to print a record: %t topic, %p partition, %o offset, %i id, "+
		"%k key, %v value, %T timestamp (ms), %% a percent sign; \\n newline, \\t tab, \\\\ backslash")
	asJSON := fs.Bool("json", false, "print one JSON object per record instead of --format")
	groupName := fs.String("group", "", "read as a consumer of this consumer group (create it with `shoal group create`)")
	consumerName := fs.String("consumer", "", "with --group: this consumer's name")
	noAck := fs.Bool("no-ack", false, "with --group: leave the records pending instead of acknowledging them once printed")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var usageErrs []string
	if *topic == "" {
		usageErrs = append(usageErrs, "--topic is required")
	}
	if *partition < -1 || *partition > math.MaxInt32 {
		usageErrs = append(usageErrs, fmt.Sprintf("--partition %d: give a partition number (0 or more), or leave it out", *partition))
	}
	if *count < 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("--count %d: give a positive number, or leave it out", *count))
	}
	from, err := parsePosition(*fromText)
	if err != nil {
		usageErrs = append(usageErrs, err.Error())
	}
	format, err := compileFormat(*formatText)
	if err != nil {
		usageErrs = append(usageErrs, err.Error())
	}
	if *asJSON && flagGiven(fs, "format") {
		usageErrs = append(usageErrs, "--format and --json exclude each other: give one")
	}
	if (*groupName == "") != (*consumerName == "") {
		usageErrs = append(usageErrs, "--group and --consumer go together: give both to read as a group consumer")
	}
	if *groupName != "" && (flagGiven(fs, "from") || *partition >= 0) {
		usageErrs = append(usageErrs, "--from and --partition do not apply to a group consumer: the group knows where it is")
	}
	if code, ok := usageErrors(fs, usageErrs); !ok {
		return code
	}
	printer := recordPrinter{format: format, json: *asJSON, out: bufio.NewWriterSize(stdout, 64<<10)}
	if *groupName != "" {
		return withClient(ctx, "consume", *brokers, stderr, func(c *client.Client) error {
			return consumeGroup(ctx, c, *topic, *groupName, *consumerName, !*noAck, &printer, *count, *exitAtEnd)
		})
	}
	cfg := client.ConsumerConfig{Topic: *topic, From: from}
	if *partition >= 0 {
		cfg.Partitions = []int32{int32(*partition)}
	}
	if *exitAtEnd {
		cfg.MaxWait = -1 // a poll at the end answers at once: AtEnd decides
	}
	return withClient(ctx, "consume", *brokers, stderr, func(c *client.Client) error {
		return consume(ctx, c, cfg, &printer, *count, *exitAtEnd)
	})
}

// flagGiven reports whether the command line set flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// consumeRetryFor is how long consume keeps polling through retriable errors (a leader moving)
// before it gives up and reports the error.
const consumeRetryFor = 30 * time.Second

// consume polls and prints until ctx ends, count records are printed, or (exitAtEnd) every
// partition is read to its end.
func consume(ctx context.Context, c *client.Client, cfg client.ConsumerConfig, printer *recordPrinter, count int, exitAtEnd bool) error {
	cons, err := c.NewConsumer(cfg)
	if err != nil {
		return err
	}
	defer cons.Close()
	printed := 0
	var retriableSince time.Time // the first of a run of retriable errors
	for (count == 0 || printed < count) && !(exitAtEnd && cons.AtEnd()) {
		msgs, err := cons.Poll(ctx)
		if ctx.Err() != nil {
			return printer.flush() // interrupted: a normal end
		}
		if errors.Is(err, protocol.ErrUnknownTopic) {
			return fmt.Errorf("topic %q does not exist: create it with `shoal topic create %s`, or produce to it", cfg.Topic, cfg.Topic)
		}
		if err != nil && protocol.CodeOf(err).Retriable() && retriableSince.IsZero() {
			retriableSince = time.Now()
		}
		if err != nil && protocol.CodeOf(err).Retriable() && time.Since(retriableSince) < consumeRetryFor {
			// A leader moved (a failover, a handover, a rebalance): Poll refreshes and tries
			// again; keep going for a while before giving up.
			continue
		}
		if err != nil {
			printer.flush()
			return err
		}
		retriableSince = time.Time{}
		if count > 0 {
			msgs = msgs[:min(len(msgs), count-printed)]
		}
		for i := range msgs {
			if err := printer.print(&msgs[i]); err != nil {
				return err
			}
		}
		printed += len(msgs)
		if err := printer.flush(); err != nil {
			return err
		}
	}
	return nil
}

// consumeGroup reads as one consumer of a group: its own unacknowledged records first, then new
// ones; each printed record is acknowledged (unless ack is false). It ends with ctx, after count
// records, or (exitAtEnd) when a read finds nothing.
func consumeGroup(ctx context.Context, c *client.Client, topic, group, name string, ack bool, printer *recordPrinter, count int, exitAtEnd bool) error {
	gc, err := c.NewGroupConsumer(topic, group, name)
	if err != nil {
		return err
	}
	printed := 0
	for count == 0 || printed < count {
		want := 100
		if count > 0 {
			want = min(want, count-printed)
		}
		block := time.Second
		if exitAtEnd {
			block = 0
		}
		msgs, err := gc.Read(ctx, want, block)
		if ctx.Err() != nil {
			return printer.flush()
		}
		if errors.Is(err, protocol.ErrUnknownTopic) {
			return fmt.Errorf("topic %q does not exist: create it with `shoal topic create %s`, then the group with `shoal group create %s %s`", topic, topic, topic, group)
		}
		if err != nil {
			printer.flush()
			return err
		}
		for i := range msgs {
			if err := printer.print(&msgs[i]); err != nil {
				return err
			}
		}
		printed += len(msgs)
		if err := printer.flush(); err != nil {
			return err
		}
		if ack && len(msgs) > 0 {
			if _, err := gc.Ack(ctx, msgs...); err != nil {
				return err
			}
		}
		if exitAtEnd && len(msgs) == 0 {
			return nil
		}
	}
	return nil
}

// parsePosition parses --from.
func parsePosition(s string) (protocol.Position, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "earliest":
		if arg == "" {
			return client.Earliest(), nil
		}
	case "latest":
		if arg == "" {
			return client.Latest(), nil
		}
	case "offset":
		if offset, err := strconv.ParseUint(arg, 10, 64); err == nil {
			return client.AtOffset(offset), nil
		}
	case "id":
		if id, err := batch.ParseID(arg, 0); err == nil {
			return client.AtID(id), nil
		}
	case "time":
		if t, err := time.Parse(time.RFC3339Nano, arg); err == nil {
			return client.AtTime(t), nil
		}
	}
	return protocol.Position{}, fmt.Errorf("--from %q: use earliest, latest, offset:N, id:MS-SEQ (or id:MS) or time:RFC3339 (2026-01-02T15:04:05Z)", s)
}

// formatPiece is one part of a compiled --format: literal bytes, or a field (verb != 0).
type formatPiece struct {
	literal []byte
	verb    byte
}

// compileFormat parses a kcat-style format string.
func compileFormat(s string) ([]formatPiece, error) {
	var pieces []formatPiece
	var lit []byte
	flushLiteral := func() {
		if len(lit) > 0 {
			pieces = append(pieces, formatPiece{literal: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit = append(lit, c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("--format %q ends with a lone %c: write %%%% or \\\\ for the character itself", s, c)
		}
		i++
		switch next := s[i]; {
		case c == '%' && next == '%':
			lit = append(lit, '%')
		case c == '%' && strings.IndexByte("tpoikvT", next) >= 0:
			flushLiteral()
			pieces = append(pieces, formatPiece{verb: next})
		case c == '\\' && next == 'n':
			lit = append(lit, '\n')
		case c == '\\' && next == 't':
			lit = append(lit, '\t')
		case c == '\\' && next == '\\':
			lit = append(lit, '\\')
		case c == '%':
			return nil, fmt.Errorf("--format %q: unknown %%%c: use %%t %%p %%o %%i %%k %%v %%T or %%%%", s, next)
		default:
			return nil, fmt.Errorf("--format %q: unknown escape \\%c: use \\n \\t or \\\\", s, next)
		}
	}
	flushLiteral()
	return pieces, nil
}

// appendFormatted appends m as the compiled format says.
func appendFormatted(dst []byte, pieces []formatPiece, m *client.Message) []byte {
	for _, p := range pieces {
		switch p.verb {
		case 0:
			dst = append(dst, p.literal...)
		case 't':
			dst = append(dst, m.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(m.Partition), 10)
		case 'o':
			dst = strconv.AppendUint(dst, m.Offset, 10)
		case 'i':
			dst = m.ID.AppendTo(dst)
		case 'k':
			dst = append(dst, m.Key...)
		case 'v':
			dst = append(dst, m.Value...)
		case 'T':
			dst = strconv.AppendInt(dst, m.Timestamp.UnixMilli(), 10)
		}
	}
	return dst
}

// jsonRecord is one line of --json. Key is null for a record without one; headers are a flat
// [field, value, field, value...] array, as kcat prints them. Keys, values and headers are
// strings: bytes that are not UTF-8 print as U+FFFD (use --format for binary data).
type jsonRecord struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    uint64   `json:"offset"`
	ID        string   `json:"id"`
	Timestamp int64    `json:"timestamp"`
	Key       *string  `json:"key"`
	Value     string   `json:"value"`
	Headers   []string `json:"headers,omitempty"`
}

// recordPrinter writes records to a buffered stdout.
type recordPrinter struct {
	format []formatPiece
	json   bool
	out    *bufio.Writer
	buf    []byte
}

func (p *recordPrinter) print(m *client.Message) error {
	if !p.json {
		p.buf = appendFormatted(p.buf[:0], p.format, m)
		_, err := p.out.Write(p.buf)
		return err
	}
	r := jsonRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, ID: m.ID.String(),
		Timestamp: m.Timestamp.UnixMilli(), Value: string(m.Value)}
	if m.Key != nil {
		r.Key = new(string(m.Key))
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, string(h.Field), string(h.Value))
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p.out.Write(line)
	return p.out.WriteByte('\n')
}

func (p *recordPrinter) flush() error { return p.out.Flush() }
