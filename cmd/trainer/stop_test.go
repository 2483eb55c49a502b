package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/trainer"
)

// A signal makes the exit status 128 plus its number, whether the command
// stopped for it or finished first (a signal during the final export).
func TestExitStatus(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	for _, c := range []struct {
		err  error
		sig  syscall.Signal
		want int
	}{
		{nil, 0, 0},
		{nil, syscall.SIGINT, 130},
		{nil, syscall.SIGTERM, 143},
		{trainer.ErrInterrupted, syscall.SIGHUP, 129},
		{trainer.ErrInterrupted, 0, 130}, // a rank that stopped with the others
		{fmt.Errorf("x: %w", errors.New("disk full")), syscall.SIGINT, 130},
		{usagef("bad flag"), 0, 2},
		{errors.New("disk full"), 0, 1},
	} {
		if got := exitStatus(c.err, c.sig, log); got != c.want {
			t.Errorf("exitStatus(%v, %v) = %d, want %d", c.err, c.sig, got, c.want)
		}
	}
}

// TestInterruptDuringExport sends SIGINT once the final state_dict is
// written, while the TorchScript export runs: the export finishes, and
// the trainer exits with 130, not 0.
func TestInterruptDuringExport(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	b := startTrainer(t, workDir, tinyRun(out, "-epochs", "1")...)
	sd := filepath.Join(out, trainer.StateDictFile)
	for !exists(sd) {
		select {
		case <-b.done:
			t.Fatalf("trainer ended (exit %d) before exporting\n%s", b.res.code, b.res.stderr)
		case <-time.After(time.Millisecond):
		}
	}
	b.signal(t, syscall.SIGINT)
	r := b.wait(t, time.Minute)
	if !strings.Contains(r.stderr, "interrupt: stopping") {
		t.Skipf("the trainer ended (exit %d) before the signal came; nothing was tested", r.code)
	}
	if r.code != 130 || strings.Contains(r.stderr, "exiting at once") {
		t.Fatalf("exit %d (want 130), stderr:\n%s", r.code, r.stderr)
	}
	if !exists(filepath.Join(out, trainer.TorchScriptFile)) {
		t.Errorf("the export did not finish: %v", names(t, out))
	}
	assertClean(t, out)
}
