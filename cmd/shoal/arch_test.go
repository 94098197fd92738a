// The architecture test, in the style of TigerBeetle's tidy.zig: one test that holds the whole
// repository to the package layout of docs/design.md ("Package layout and allowed imports").
//
// Method: TestArchitecture runs `go list -e -deps -json ./...` at the module root and hands every
// package of the module to checkImports, which compares its imports, and separately its test
// files' imports, with the table `layers` below; then it parses each package's non-test files
// with checkSource, which finds clock reads, global randomness and goroutines in pure packages
// and fmt.Print in packages that must not print. Both checkers are pure functions, and
// TestArchCheckers feeds them synthetic packages and sources to show that every kind of
// violation is reported (a checker that cannot fail proves nothing).
//
// Packages in the table that do not exist yet are fine; a package of the module that is not in
// the table fails the test until someone decides, in the table and in docs/design.md, what it may
// import.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Third-party modules named in the table.
const (
	moduleMsgpack    = "github.com/vmihailenco/msgpack/v5"
	moduleXxhash     = "github.com/cespare/xxhash/v2"
	moduleMemberlist = "github.com/hashicorp/memberlist"
	moduleProtoactor = "github.com/asynkron/protoactor-go"
	moduleGoleak     = "go.uber.org/goleak"
	moduleDatadriven = "github.com/cockroachdb/datadriven"
	moduleRedcon     = "github.com/tidwall/redcon"
	moduleGoRedis    = "github.com/redis/go-redis/v9"
)

// anything, as the only element of layer.imports or layer.modules, allows every module package
// (except cmd/..., which nothing imports) or every third-party module.
const anything = "*"

// layer is one row of the table: a package (or a subtree), what it may import besides the
// standard library, and which extra rules it obeys. Paths are relative to the module root;
// "x/..." matches x and every package below it, as in the go command.
type layer struct {
	pkg     string
	imports []string // module packages it may import
	modules []string // third-party modules it may import
	// testModules: third-party modules its test files may import besides testModules below
	// (protocol/resp/server tests real Redis clients against the server).
	testModules []string
	// pure: a protocol core (STYLE principles 1 and 2). No I/O, clock, network, global
	// randomness or goroutines in its non-test files.
	pure bool
	// noNet: may not import net or net/... (storage: the log knows nothing of the network).
	noNet bool
	// mayPrint: may call fmt.Print*, print and println (STYLE principle 19: only the binary and
	// the simulation's report write to stdout).
	mayPrint bool
}

// Shared allowances.
var (
	storageImports = []string{"protocol/batch", "storage/vfs", "storage/internal/..."}
	// NB(arch): the table of STYLE.md says actors may import `storage`; storage's constructor takes
	// a vfs.FS, so whoever opens a log names storage/vfs as well.
	actorsImports = []string{"actors/...", "storage", "storage/vfs", "cluster/...", "protocol/..."}
)

// layers is the table of docs/design.md "Package layout and allowed imports". Keep the two equal.
var layers = []layer{
	{pkg: "cmd/shoal", imports: []string{anything}, modules: []string{anything}, mayPrint: true},

	{pkg: "protocol", imports: []string{"protocol/batch"}, modules: []string{moduleMsgpack, moduleXxhash}, pure: true},
	{pkg: "protocol/batch", pure: true},
	{pkg: "protocol/resp", imports: []string{"protocol", "protocol/batch"}, pure: true},
	{pkg: "protocol/resp/server", imports: []string{"protocol/resp", "protocol", "protocol/batch"},
		modules: []string{moduleRedcon}, testModules: []string{moduleGoRedis}},
	{pkg: "protocol/transport", imports: []string{"protocol"}},

	{pkg: "storage", imports: storageImports, noNet: true},
	{pkg: "storage/vfs", noNet: true},
	{pkg: "storage/internal/...", imports: storageImports, noNet: true},

	{pkg: "cluster/ring", modules: []string{moduleXxhash}, pure: true},
	{pkg: "cluster/placement", imports: []string{"cluster/ring"}, pure: true},
	{pkg: "cluster", imports: []string{"cluster/ring"}, modules: []string{moduleMemberlist, moduleMsgpack}},

	{pkg: "actors/replication", imports: []string{"protocol", "protocol/batch"}, pure: true},
	{pkg: "actors/group", imports: []string{"protocol", "protocol/batch"}, pure: true},
	{pkg: "actors", imports: actorsImports, modules: []string{moduleProtoactor}},
	{pkg: "actors/partition", imports: actorsImports, modules: []string{moduleProtoactor}},
	{pkg: "actors/node", imports: actorsImports, modules: []string{moduleProtoactor}},

	{pkg: "client", imports: []string{"protocol", "protocol/batch", "protocol/resp", "protocol/transport"}},
	{pkg: "client/examples/...", imports: []string{"client", "protocol", "protocol/batch"}, mayPrint: true},

	{pkg: "simulation/...", imports: []string{anything}, modules: []string{anything}, mayPrint: true},
}

// Test files (package x and package x_test) may import what their package may import, and also:
var (
	testImports = []string{"storage/vfs", "simulation/..."} // plus the module's test helpers, see isTestHelper
	testModules = []string{moduleGoleak, moduleDatadriven}
)

// pureForbiddenStd lists the standard-library packages a pure package may not import ("x/..."
// covers the subtree). time is allowed for time.Duration in config; checkSource forbids reading
// the clock. math/rand is allowed for *rand.Rand built from a seed; checkSource forbids its globals.
var pureForbiddenStd = []string{"net/...", "os/...", "syscall", "crypto/rand"}

// Calls that read the wall clock or wait on it (forbidden in pure packages).
var clockFuncs = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}

// The names of math/rand and math/rand/v2 that do not use the global source (allowed everywhere).
var randSeededNames = []string{"New", "NewSource", "NewPCG", "NewChaCha8", "NewZipf", "Rand", "Source", "Source64", "PCG", "ChaCha8", "Zipf"}

// hintLayout closes every import violation.
const hintLayout = "make imports point toward the pure leaves (pass the dependency in through an interface, or move the code); " +
	"if the layering really changed, update the table in cmd/shoal/arch_test.go and docs/design.md together"

// goPackage is the part of `go list -json` output the test reads.
type goPackage struct {
	ImportPath     string
	Dir            string
	Standard       bool
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string // files excluded by build constraints (e.g. an invariants tag): checked too
	Imports        []string
	TestImports    []string
	XTestImports   []string
	Module         *struct {
		Path string
		Main bool
	}
	Error *struct{ Err string }
}

func TestArchitecture(t *testing.T) {
	modulePath, pkgs := listModulePackages(t)
	if len(pkgs) == 0 {
		t.Fatal("go list found no package of the module; is the test running inside the repository?")
	}
	var violations []string
	violations = append(violations, checkImports(modulePath, pkgs)...)
	for _, p := range pkgs {
		l, ok := layerOf(relPath(modulePath, p.ImportPath))
		if !ok {
			continue // checkImports reported it
		}
		for _, name := range sourceFiles(p) {
			filename := filepath.Join(p.Dir, name)
			src, err := os.ReadFile(filename)
			if err != nil {
				t.Fatalf("read %s: %v", filename, err)
			}
			display := relPath(modulePath, p.ImportPath) + "/" + name
			violations = append(violations, checkSource(l, display, src)...)
		}
	}
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("checked %d packages of %s", len(pkgs), modulePath)
}

// listModulePackages runs `go list -e -deps -json ./...` at the module root and returns the
// module path and the module's own packages. Packages with errors are kept (their imports are
// still listed); building them is other tests' business.
func listModulePackages(t *testing.T) (string, []goPackage) {
	t.Helper()
	gomod := goCommand(t, ".", "env", "GOMOD")
	gomod = strings.TrimSpace(gomod)
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}
	out := goCommand(t, filepath.Dir(gomod), "list", "-e", "-deps", "-json", "./...")
	var all []goPackage
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var p goPackage
		err := dec.Decode(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		all = append(all, p)
	}
	modulePath := ""
	for _, p := range all {
		if p.Module != nil && p.Module.Main {
			modulePath = p.Module.Path
			break
		}
	}
	if modulePath == "" {
		t.Fatal("go list reported no package of the main module")
	}
	var own []goPackage
	for _, p := range all {
		if !p.Standard && inModule(modulePath, p.ImportPath) {
			if p.Error != nil {
				t.Logf("note: %s: %s (not an architecture problem; other tests will report it)", p.ImportPath, p.Error.Err)
			}
			own = append(own, p)
		}
	}
	return modulePath, own
}

func goCommand(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// checkImports returns one message per violation of the table by pkgs, the module's packages.
func checkImports(modulePath string, pkgs []goPackage) []string {
	var violations []string
	for _, p := range pkgs {
		rel := relPath(modulePath, p.ImportPath)
		l, ok := layerOf(rel)
		if !ok {
			violations = append(violations, fmt.Sprintf(
				"%s: package is not in the architecture table; add it to the table in cmd/shoal/arch_test.go "+
					"and to docs/design.md (\"Package layout and allowed imports\"), saying what it may import", rel))
			continue
		}
		for _, imp := range p.Imports {
			if why := importViolation(modulePath, rel, l, imp, false); why != "" {
				violations = append(violations, fmt.Sprintf("%s imports %s: %s", rel, displayPath(modulePath, imp), why))
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			if why := importViolation(modulePath, rel, l, imp, true); why != "" {
				violations = append(violations, fmt.Sprintf("%s (test files) import %s: %s", rel, displayPath(modulePath, imp), why))
			}
		}
	}
	return violations
}

// importViolation says why package rel (of layer l) may not import imp, or returns "".
func importViolation(modulePath, rel string, l layer, imp string, inTest bool) string {
	switch {
	case imp == "C":
		return ""
	case inModule(modulePath, imp):
		return moduleImportViolation(rel, l, relPath(modulePath, imp), inTest)
	case isStandard(imp):
		return stdImportViolation(l, imp, inTest)
	}
	allowed := l.modules
	if inTest {
		allowed = slices.Concat(allowed, testModules, l.testModules)
	}
	for _, m := range allowed {
		if m == anything || imp == m || strings.HasPrefix(imp, m+"/") {
			return ""
		}
	}
	return fmt.Sprintf("third-party module not allowed here (%s may use: %s); %s",
		rel, listOrNone(l.modules), hintLayout)
}

func moduleImportViolation(rel string, l layer, imp string, inTest bool) string {
	if matchPattern("cmd/...", imp) {
		return "nothing imports cmd/...: move the shared code into a package of the table"
	}
	if inTest && (imp == rel || isTestHelper(imp) || slices.ContainsFunc(testImports, func(p string) bool { return matchPattern(p, imp) })) {
		return ""
	}
	for _, p := range l.imports {
		if matchPattern(p, imp) {
			return ""
		}
	}
	if matchPattern("simulation/...", imp) {
		return "only cmd/shoal and test files import simulation/...; " + hintLayout
	}
	return fmt.Sprintf("not allowed by the table (%s may import: %s); %s", rel, listOrNone(l.imports), hintLayout)
}

func stdImportViolation(l layer, imp string, inTest bool) string {
	if inTest {
		return ""
	}
	if l.pure && slices.ContainsFunc(pureForbiddenStd, func(p string) bool { return matchPattern(p, imp) }) {
		return "a pure package does no I/O and knows no network, file system or OS (STYLE principles 1, 2 and 5); " +
			"take the value as an input from the actor shell, or move this code into the shell"
	}
	if l.noNet && matchPattern("net/...", imp) {
		return "storage never imports net: the log knows nothing of the network; move this code up into actors or cmd/shoal"
	}
	return ""
}

// checkSource returns one message per forbidden construct in one non-test file of a package of
// layer l: in pure packages, clock reads, global math/rand calls and go statements; everywhere
// but mayPrint packages, fmt.Print* and the print builtins. name is used in the messages.
func checkSource(l layer, name string, src []byte) []string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil // a syntax error is the compiler's to report
	}
	importNames := map[string]string{} // local name -> import path
	for _, spec := range file.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		local := path[strings.LastIndex(path, "/")+1:]
		if path == "math/rand/v2" {
			local = "rand"
		}
		if spec.Name != nil {
			local = spec.Name.Name
		}
		importNames[local] = path
	}
	var violations []string
	report := func(pos token.Pos, format string, args ...any) {
		violations = append(violations, fmt.Sprintf("%s: %s", fset.Position(pos), fmt.Sprintf(format, args...)))
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			if l.pure {
				report(n.Pos(), "go statement in a pure package: cores never start goroutines; "+
					"return the work in Ready and let the actor shell run it (STYLE principle 1)")
			}
		case *ast.CallExpr:
			if fn, ok := n.Fun.(*ast.Ident); ok && (fn.Name == "print" || fn.Name == "println") && !l.mayPrint {
				report(n.Pos(), "%s(...) writes to stderr: only cmd/shoal and simulation print; return an error or log through the caller's logger", fn.Name)
			}
		case *ast.SelectorExpr:
			x, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch path, sel := importNames[x.Name], n.Sel.Name; {
			case path == "fmt" && strings.HasPrefix(sel, "Print") && !l.mayPrint:
				report(n.Pos(), "fmt.%s writes to stdout: only cmd/shoal and simulation print (STYLE principle 19); "+
					"return the value or an error, or write to an io.Writer the caller passes in", sel)
			case l.pure && path == "time" && slices.Contains(clockFuncs, sel):
				report(n.Pos(), "time.%s in a pure package: cores count ticks and take timestamps as input (STYLE principle 2)", sel)
			case l.pure && (path == "math/rand" || path == "math/rand/v2") && !slices.Contains(randSeededNames, sel):
				report(n.Pos(), "%s.%s uses the global random source: take a *rand.Rand built from a seed as input (STYLE principle 2)", x.Name, sel)
			}
		}
		return true
	})
	return violations
}

// sourceFiles lists the non-test Go files of p, including those excluded by build constraints.
func sourceFiles(p goPackage) []string {
	var files []string
	for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles) {
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
			files = append(files, f)
		}
	}
	return files
}

// layerOf returns the row for the module-relative package rel: an exact row wins, else the
// longest "x/..." row that matches.
func layerOf(rel string) (layer, bool) {
	best, bestLen := layer{}, -1
	for _, l := range layers {
		if l.pkg == rel {
			return l, true
		}
		if strings.HasSuffix(l.pkg, "/...") && matchPattern(l.pkg, rel) && len(l.pkg) > bestLen {
			best, bestLen = l, len(l.pkg)
		}
	}
	return best, bestLen >= 0
}

// matchPattern reports whether path matches pattern: equal, or pattern "x/..." and path is x or
// below it, or pattern "*".
func matchPattern(pattern, path string) bool {
	if pattern == anything || pattern == path {
		return true
	}
	prefix, ok := strings.CutSuffix(pattern, "/...")
	return ok && (path == prefix || strings.HasPrefix(path, prefix+"/"))
}

// isTestHelper reports whether a module package is a test helper that any test may import: its
// last path element ends in "test" (as storagetest, like the standard library's httptest) or
// starts with "test" (as testutil).
func isTestHelper(rel string) bool {
	last := rel[strings.LastIndex(rel, "/")+1:]
	return strings.HasSuffix(last, "test") || strings.HasPrefix(last, "test")
}

// isStandard reports whether an import path belongs to the standard library: its first element
// has no dot (as for the go command).
func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func inModule(modulePath, path string) bool {
	return path == modulePath || strings.HasPrefix(path, modulePath+"/")
}

// relPath returns the module-relative path of a module package ("." for the root).
func relPath(modulePath, path string) string {
	if path == modulePath {
		return "."
	}
	return strings.TrimPrefix(path, modulePath+"/")
}

func displayPath(modulePath, path string) string {
	if inModule(modulePath, path) {
		return relPath(modulePath, path)
	}
	return path
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "nothing"
	}
	return strings.Join(items, ", ")
}

// TestArchCheckers runs the checkers on synthetic packages and sources: each case names the
// violations it must produce (substrings), or none.
func TestArchCheckers(t *testing.T) {
	const mod = "example.com/shoal"
	pkg := func(rel string, imports ...string) goPackage {
		return goPackage{ImportPath: mod + "/" + rel, Imports: withModule(mod, imports)}
	}
	withTests := func(p goPackage, testImports ...string) goPackage {
		p.XTestImports = withModule(mod, testImports)
		return p
	}
	importCases := []struct {
		name string
		pkg  goPackage
		want []string // one substring per expected violation; nil means the package is clean
	}{
		{"leaf imports only stdlib", pkg("protocol/batch", "encoding/binary", "hash/crc32"), nil},
		{"leaf imports a module package", pkg("protocol/batch", "~protocol"), []string{"protocol/batch imports protocol: not allowed"}},
		{"leaf imports a third-party module", pkg("protocol/batch", moduleMsgpack), []string{"third-party module not allowed"}},
		{"protocol may use msgpack subpackages", pkg("protocol", moduleMsgpack+"/msgpcode", "~protocol/batch"), nil},
		{"pure package imports os", pkg("cluster/ring", "os", moduleXxhash), []string{"cluster/ring imports os: a pure package"}},
		{"pure package imports net/netip", pkg("actors/replication", "net/netip"), []string{"a pure package"}},
		{"pure package imports time for Duration", pkg("actors/group", "time", "~protocol"), nil},
		{"pure package imports memberlist", pkg("cluster/placement", moduleMemberlist), []string{"third-party module not allowed"}},
		{"storage imports its seam and batch", pkg("storage", "~storage/vfs", "~protocol/batch", "~storage/internal/segment", "os"), nil},
		{"storage imports actors", pkg("storage", "~actors"), []string{"storage imports actors: not allowed"}},
		{"storage imports cluster", pkg("storage", "~cluster"), []string{"storage imports cluster: not allowed"}},
		{"storage imports net", pkg("storage", "net"), []string{"storage never imports net"}},
		{"storage internal helper imports net/http", pkg("storage/internal/index", "net/http"), []string{"storage never imports net"}},
		{"vfs is a leaf", pkg("storage/vfs", "~protocol/batch"), []string{"storage/vfs imports protocol/batch: not allowed"}},
		{"client imports storage", pkg("client", "~storage"), []string{"client imports storage: not allowed"}},
		{"client imports actors", pkg("client", "~actors/partition"), []string{"client imports actors/partition: not allowed"}},
		{"client imports transport", pkg("client", "~protocol/transport", "~protocol", "net"), nil},
		{"actors import storage and its seam", pkg("actors/partition", "~storage", "~storage/vfs", "~actors/replication", moduleProtoactor), nil},
		{"library imports simulation", pkg("actors", "~simulation"), []string{"only cmd/shoal and test files import simulation"}},
		{"simulation imports anything but cmd", pkg("simulation/simnet", "~storage", "~actors", moduleMemberlist), nil},
		{"simulation imports cmd", pkg("simulation", "~cmd/shoal"), []string{"nothing imports cmd/..."}},
		{"unknown package", pkg("util", "fmt"), []string{"util: package is not in the architecture table; add it"}},
		{"unknown cmd", pkg("cmd/tool"), []string{"cmd/tool: package is not in the architecture table"}},
		{"tests may import vfs, helpers, simulation, goleak, os",
			withTests(pkg("storage"), "~storage", "~storage/vfs", "~storage/storagetest", "~simulation", moduleGoleak, "os", "time"), nil},
		{"pure package tests may use os and time", withTests(pkg("protocol/batch"), "~protocol/batch", "os", "time", "math/rand"), nil},
		{"tests may not import upward", withTests(pkg("storage"), "~actors"), []string{"storage (test files) import actors: not allowed"}},
		{"tests may not import other modules", withTests(pkg("client"), "github.com/stretchr/testify"), []string{"(test files) import github.com/stretchr/testify: third-party"}},
	}
	for _, tc := range importCases {
		t.Run("imports/"+tc.name, func(t *testing.T) {
			checkViolations(t, checkImports(mod, []goPackage{tc.pkg}), tc.want)
		})
	}

	pure, _ := layerOf("actors/replication")
	shell, _ := layerOf("actors/partition")
	binary, _ := layerOf("cmd/shoal")
	sourceCases := []struct {
		name  string
		layer layer
		src   string
		want  []string
	}{
		{"pure core with ticks and a seeded rand", pure, `package p
import ("math/rand"; "time")
type Config struct{ Heartbeat time.Duration }
func f(r *rand.Rand) int { _ = rand.New(rand.NewSource(1)); return r.Intn(3) + int(time.Second) }`, nil},
		{"pure core reads the clock", pure, `package p
import "time"
func f() time.Time { time.Sleep(1); return time.Now() }`, []string{"time.Sleep in a pure package", "time.Now in a pure package"}},
		{"pure core uses renamed time", pure, `package p
import clock "time"
var t = clock.Now()`, []string{"time.Now in a pure package"}},
		{"pure core uses global rand", pure, `package p
import ("math/rand"; rv2 "math/rand/v2")
func f() int { return rand.Intn(3) + rv2.IntN(4) }`, []string{"rand.Intn uses the global random source", "rv2.IntN uses the global random source"}},
		{"pure core starts a goroutine", pure, `package p
func f() { go func() {}() }`, []string{"go statement in a pure package"}},
		{"pure core prints", pure, `package p
import "fmt"
func f() { fmt.Println("x"); println("y") }`, []string{"fmt.Println writes to stdout", "println(...) writes to stderr"}},
		{"shell may use the clock and goroutines", shell, `package p
import "time"
func f() { go func() { time.Sleep(time.Now().Sub(time.Now())) }() }`, nil},
		{"shell may not print", shell, `package p
import "fmt"
func f() { fmt.Printf("x") }`, []string{"fmt.Printf writes to stdout"}},
		{"binary may print", binary, `package main
import "fmt"
func main() { fmt.Println("x") }`, nil},
	}
	for _, tc := range sourceCases {
		t.Run("source/"+tc.name, func(t *testing.T) {
			checkViolations(t, checkSource(tc.layer, "x.go", []byte(tc.src)), tc.want)
		})
	}
}

// withModule turns "~rel" into the module path of rel; other paths are kept.
func withModule(mod string, imports []string) []string {
	out := make([]string, len(imports))
	for i, imp := range imports {
		if rel, ok := strings.CutPrefix(imp, "~"); ok {
			imp = mod + "/" + rel
		}
		out[i] = imp
	}
	return out
}

func checkViolations(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d\ngot:\n  %s\nwant substrings:\n  %s",
			len(got), len(want), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("violation %d:\ngot:  %s\nwant it to contain: %s", i, got[i], want[i])
		}
	}
}
