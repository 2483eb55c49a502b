package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/trainer"
)

// exitStatus is the exit code of a command that returned err, sig being
// the first signal it received (0: none). A command stopped by a signal
// exits with 128 plus the signal's number, as a shell reports a process
// killed by it: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for SIGHUP;
// so does one that finished before it could stop (a signal during the
// final export), since it was asked to stop.
func exitStatus(err error, sig syscall.Signal, log *logrus.Logger) int {
	switch {
	case sig != 0:
		if err != nil && !errors.Is(err, trainer.ErrInterrupted) { // which the run has logged
			fmt.Fprintf(os.Stderr, "trainer: %v\n", err)
		}
		return 128 + int(sig)
	case err == nil:
		return exitOK
	case errors.Is(err, trainer.ErrInterrupted):
		// A rank of a distributed run that stopped with the others, one of
		// which had the signal: as for Ctrl-C (the run has logged it).
		return 128 + int(syscall.SIGINT)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "trainer: %v\n", err)
		return exitUsage
	default:
		// Plain text for people; a structured record in JSON mode.
		if _, ok := log.Formatter.(*logrus.JSONFormatter); ok {
			log.Error(err)
		} else {
			fmt.Fprintf(os.Stderr, "trainer: %v\n", err)
		}
		return exitError
	}
}

// repeatWindow is how soon after a signal a rank of a torchrun job takes
// the same signal again as part of the same stop, not as the second
// signal that exits at once. A terminal's Ctrl-C, and a SIGTERM to the
// job's process group (Slurm, Kubernetes), reach torchrun and its ranks
// together, and torchrun passes its own on to the ranks a moment later:
// each rank sees the signal twice. To exit at once, signal again after
// the window.
const repeatWindow = 2 * time.Second

// stopper turns SIGINT, SIGTERM and SIGHUP into the cancellation of the
// command's context, once the command has said that it stops cleanly
// (training writes a checkpoint first); before that, and on a second
// signal, it exits at once. For a rank (rank set), the same signal again
// within repeatWindow is no second signal. Signals that the process was
// started with ignored (nohup, a background job of a script) stay ignored.
type stopper struct {
	ch       chan os.Signal
	cancel   context.CancelCauseFunc
	log      *logrus.Logger
	rank     bool
	graceful atomic.Bool
	first    atomic.Int32 // number of the first signal received
	firstAt  time.Time    // when; watch's alone
}

func newStopper(cancel context.CancelCauseFunc, log *logrus.Logger, rank bool) *stopper {
	s := &stopper{ch: make(chan os.Signal, 2), cancel: cancel, log: log, rank: rank}
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(sig) {
			signal.Notify(s.ch, sig)
		}
	}
	go s.watch()
	return s
}

func (s *stopper) watch() {
	for sig := range s.ch {
		n := int32(sig.(syscall.Signal))
		first := s.first.CompareAndSwap(0, n)
		if !first && s.rank && n == s.first.Load() && time.Since(s.firstAt) < repeatWindow {
			s.log.Debugf("%v again within %v: the same stop (torchrun passes on the signals it gets)", sig, repeatWindow)
			continue
		}
		if !first || !s.graceful.Load() {
			// The checkpoint of the last finished epoch (or none) stays;
			// temporary files left behind go when the folder is next used.
			fmt.Fprintf(os.Stderr, "\ntrainer: %v: exiting at once\n", sig)
			os.Exit(128 + int(n))
		}
		s.firstAt = time.Now()
		again := "signal again to exit at once"
		if s.rank {
			again = fmt.Sprintf("signal again after %v to exit at once", repeatWindow)
		}
		s.log.Warnf("%v: stopping after the current step (or the current test pass) with a checkpoint; %s", sig, again)
		s.cancel(fmt.Errorf("stopped by signal (%v)", sig))
	}
}

// stopCleanly says that the command stops cleanly when its context is
// cancelled.
func (s *stopper) stopCleanly() { s.graceful.Store(true) }

// signal returns the first signal received, or 0.
func (s *stopper) signal() syscall.Signal { return syscall.Signal(s.first.Load()) }

func (s *stopper) close() { signal.Stop(s.ch) }
