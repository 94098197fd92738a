package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after all tests, that no goroutine outlived its Client, Producer or Consumer
// (the synctest bubbles check their own goroutines too).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
