package server

import (
	"strconv"
	"strings"

	"github.com/shoalmq/shoal/protocol/resp"
)

// Connection command replies and errors (Redis 7.0 texts).
var (
	noAuth       = resp.ErrorText("NOAUTH Authentication required.")
	wrongPass    = resp.ErrorText("WRONGPASS invalid username-password pair or user is disabled.")
	noPassword   = resp.ErrorText("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	helloNoAuth  = resp.ErrorText("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	badProtover  = resp.ErrorText("ERR Protocol version is not an integer or out of range")
	noProto      = resp.ErrorText("NOPROTO unsupported protocol version")
	badName      = resp.ErrorText("ERR Client names cannot contain spaces, newlines or special characters.")
	dbOutOfRange = resp.ErrorText("ERR DB index is out of range")
	pong         = resp.SimpleString("PONG")
)

// connCommand is one connection command: its Redis arity and handler. noAuth commands run
// before authentication.
type connCommand struct {
	arity  int
	noAuth bool
	run    func(s *Server, st *connState, args [][]byte) (reply resp.Value, quit bool)
}

var connCommands map[string]connCommand

func init() {
	connCommands = map[string]connCommand{
		"ping":    {-1, false, runPing},
		"echo":    {2, false, func(_ *Server, _ *connState, a [][]byte) (resp.Value, bool) { return resp.Bulk(a[1]), false }},
		"hello":   {-1, true, runHello},
		"auth":    {-2, true, runAuth},
		"client":  {-2, false, runClient},
		"select":  {2, false, runSelect},
		"command": {-1, false, runCommand},
		"info":    {-1, false, runInfo},
		"quit":    {-1, true, func(*Server, *connState, [][]byte) (resp.Value, bool) { return resp.OK, true }},
		"reset":   {1, true, runReset},
	}
}

// connectionCommand answers args if it is a connection command (handled); unknown names go
// to resp.Parse. Redis's order: unknown command, arity, then authentication.
func (s *Server) connectionCommand(st *connState, args [][]byte) (reply resp.Value, handled, quit bool) {
	name := strings.ToLower(string(args[0]))
	cc, ok := connCommands[name]
	if !ok {
		return resp.Value{}, false, false
	}
	if cc.arity < 0 && len(args) < -cc.arity || cc.arity > 0 && len(args) != cc.arity {
		return resp.ErrorValue(resp.ErrWrongArgs(name)), true, false
	}
	if !st.authenticated && !cc.noAuth {
		return noAuth, true, false
	}
	reply, quit = cc.run(s, st, args)
	return reply, true, quit
}

func runPing(_ *Server, _ *connState, args [][]byte) (resp.Value, bool) {
	switch len(args) {
	case 1:
		return pong, false
	case 2:
		return resp.Bulk(args[1]), false
	}
	return resp.ErrorValue(resp.ErrWrongArgs("ping")), false
}

// runAuth is AUTH [user] password against Config.Password for the user "default".
func runAuth(s *Server, st *connState, args [][]byte) (resp.Value, bool) {
	if len(args) > 3 {
		return resp.ErrorValue(resp.ErrSyntax), false
	}
	if len(args) == 2 && s.cfg.Password == "" {
		return noPassword, false
	}
	user, password := "default", string(args[len(args)-1])
	if len(args) == 3 {
		user = string(args[1])
	}
	if !s.checkPassword(user, password) {
		return wrongPass, false
	}
	st.authenticated = true
	return resp.OK, false
}

func (s *Server) checkPassword(user, password string) bool {
	return user == "default" && (s.cfg.Password == "" || password == s.cfg.Password)
}

// runHello is HELLO [protover [AUTH user pass] [SETNAME name]].
func runHello(s *Server, st *connState, args [][]byte) (resp.Value, bool) {
	proto := st.client.Protocol()
	if len(args) >= 2 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil || strings.HasPrefix(string(args[1]), "+") {
			return badProtover, false
		}
		if v < 2 || v > 3 {
			return noProto, false
		}
		proto = int(v)
	}
	var user, password, name string
	authGiven, nameGiven := false, false
	for j := 2; j < len(args); j++ {
		more := len(args) - 1 - j
		switch opt := strings.ToLower(string(args[j])); {
		case opt == "auth" && more >= 2:
			user, password, authGiven = string(args[j+1]), string(args[j+2]), true
			j += 2
		case opt == "setname" && more >= 1:
			name, nameGiven = string(args[j+1]), true
			if !validClientName(name) {
				return badName, false
			}
			j++
		default:
			return resp.ErrorText("ERR Syntax error in HELLO option '" + string(args[j]) + "'"), false
		}
	}
	if authGiven {
		if !s.checkPassword(user, password) {
			return wrongPass, false
		}
		st.authenticated = true
	}
	if !st.authenticated {
		return helloNoAuth, false
	}
	if nameGiven {
		st.client.setName(name)
	}
	st.client.setProtocol(proto)
	return resp.Map(
		resp.BulkString("server"), resp.BulkString("redis"),
		resp.BulkString("version"), resp.BulkString(s.cfg.Version),
		resp.BulkString("proto"), resp.Int(int64(proto)),
		resp.BulkString("id"), resp.Int(st.client.ID()),
		resp.BulkString("mode"), resp.BulkString("standalone"),
		resp.BulkString("role"), resp.BulkString("master"),
		resp.BulkString("modules"), resp.Array(),
	), false
}

// validClientName is Redis's rule: printable ASCII without spaces.
func validClientName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return false
		}
	}
	return true
}

func runSelect(_ *Server, _ *connState, args [][]byte) (resp.Value, bool) {
	db, err := strconv.ParseInt(string(args[1]), 10, 64)
	if err != nil {
		return resp.ErrorValue(resp.ErrNotInteger), false
	}
	if db != 0 {
		return dbOutOfRange, false
	}
	return resp.OK, false
}

func runReset(s *Server, st *connState, _ [][]byte) (resp.Value, bool) {
	st.client.setName("")
	st.client.setProtocol(2)
	st.authenticated = s.cfg.Password == ""
	return resp.SimpleString("RESET"), false
}

// runClient is CLIENT ID|SETNAME|GETNAME|SETINFO|INFO|LIST|HELP.
func runClient(_ *Server, st *connState, args [][]byte) (resp.Value, bool) {
	sub := strings.ToLower(string(args[1]))
	arity := map[string]int{"id": 2, "setname": 3, "getname": 2, "setinfo": 4, "info": 2, "list": -2, "help": 2}
	a, ok := arity[sub]
	switch {
	case !ok:
		return resp.ErrorValue(resp.ErrUnknownSubcommand(args[0], args[1])), false
	case a > 0 && len(args) != a || a < 0 && len(args) < -a:
		return resp.ErrorValue(resp.ErrWrongArgs("client|" + sub)), false
	}
	c := st.client
	switch sub {
	case "id":
		return resp.Int(c.ID()), false
	case "setname":
		if !validClientName(string(args[2])) {
			return badName, false
		}
		c.setName(string(args[2]))
		return resp.OK, false
	case "getname":
		if name := c.Name(); name != "" {
			return resp.BulkString(name), false
		}
		return resp.Null, false
	case "setinfo":
		return clientSetInfo(c, args), false
	case "info":
		return resp.Verbatim("txt", []byte(clientInfoLine(c)+"\n")), false
	case "list":
		return resp.Verbatim("txt", []byte(clientInfoLine(c)+"\n")), false
	}
	return resp.Array(resp.SimpleString("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
		resp.SimpleString("ID"), resp.SimpleString("GETNAME"), resp.SimpleString("SETNAME <name>"),
		resp.SimpleString("SETINFO <LIB-NAME|LIB-VER> <value>"), resp.SimpleString("INFO"),
		resp.SimpleString("LIST"), resp.SimpleString("HELP")), false
}

func clientSetInfo(c *Client, args [][]byte) resp.Value {
	value := string(args[3])
	if !validClientName(value) {
		return resp.ErrorText("ERR " + string(args[2]) + " cannot contain spaces, newlines or special characters.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch strings.ToLower(string(args[2])) {
	case "lib-name":
		c.libName = value
	case "lib-ver":
		c.libVer = value
	default:
		return resp.ErrorText("ERR Unrecognized option '" + string(args[2]) + "'")
	}
	return resp.OK
}

func clientInfoLine(c *Client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "id=" + strconv.FormatInt(c.id, 10) + " addr=" + c.addr + " name=" + c.name +
		" db=0 resp=" + strconv.Itoa(c.proto) + " lib-name=" + c.libName + " lib-ver=" + c.libVer
}

// runInfo is INFO [section ...]: the server section and an empty keyspace section.
func runInfo(s *Server, _ *connState, args [][]byte) (resp.Value, bool) {
	want := func(section string) bool {
		if len(args) == 1 {
			return true
		}
		for _, a := range args[1:] {
			if n := strings.ToLower(string(a)); n == section || n == "all" || n == "everything" || n == "default" {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	if want("server") {
		b.WriteString("# Server\r\nredis_version:" + s.cfg.Version + "\r\nredis_mode:standalone\r\n" +
			"shoal:1\r\narch_bits:64\r\nprocess_id:0\r\ntcp_port:0\r\n\r\n")
	}
	if want("clients") {
		b.WriteString("# Clients\r\nconnected_clients:" + strconv.FormatInt(s.clients.Load(), 10) + "\r\n\r\n")
	}
	if want("replication") {
		b.WriteString("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n")
	}
	if want("keyspace") {
		b.WriteString("# Keyspace\r\n")
	}
	return resp.Verbatim("txt", []byte(b.String())), false
}
