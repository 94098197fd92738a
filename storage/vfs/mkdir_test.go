package vfs

import (
	"path/filepath"
	"slices"
	"testing"
)

// MkdirAllDurably on a crashable disk: the directories it creates survive a power loss, a plain
// MkdirAll's do not (the negative control shows the crash would take them).
func TestMkdirAllDurablySurvivesACrash(t *testing.T) {
	fsys := NewCrashFS()
	if err := MkdirAllDurably(fsys, "var/shoal/data/topics", 0o755); err != nil {
		t.Fatal(err)
	}
	// A file made durable inside the new tree must survive too: its directory's entry does.
	if err := WriteFileAtomic(fsys, "var/shoal/data", "node.id", []byte("n1\n")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("plain/a", 0o755); err != nil { // after: the root's sync above must not cover it
		t.Fatal(err)
	}
	fsys.Crash()
	for _, dir := range []string{"var", "var/shoal", "var/shoal/data", "var/shoal/data/topics"} {
		if _, err := fsys.ReadDir(dir); err != nil {
			t.Errorf("after the crash, %s: %v; want it kept", dir, err)
		}
	}
	if names, _ := fsys.ReadDir("var/shoal/data"); !slices.Contains(names, "node.id") {
		t.Errorf("after the crash, var/shoal/data holds %v; want node.id", names)
	}
	if _, err := fsys.ReadDir("plain"); err == nil {
		t.Error("the negative control: a plain MkdirAll survived the crash, so this test shows nothing")
	}
	// An existing tree is left alone, and a file in the way is an error.
	if err := MkdirAllDurably(fsys, "var/shoal/data", 0o755); err != nil {
		t.Errorf("on an existing dir: %v", err)
	}
	if err := MkdirAllDurably(fsys, filepath.Join("var/shoal/data", "node.id", "x"), 0o755); err == nil {
		t.Error("creating a dir under a file: no error")
	}
}
