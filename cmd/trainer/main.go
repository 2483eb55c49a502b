// Command trainer trains a compact CNN on CIFAR-10 over libtorch, the way
// the seed PyTorch project does, and evaluates, exports and summarizes the
// networks it trains.
//
//	trainer -epochs 20 -lr 0.05
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/internal/progress"
	"gotrain/torch"
	"gotrain/trainer"
)

func main() {
	restartWithSettings()
	os.Exit(run(os.Args))
}

// restartWithSettings restarts the program once (exec, same arguments)
// with GLIBC_TUNABLES=glibc.malloc.arena_max=1 and GODEBUG=asyncpreemptoff=1,
// which glibc and the Go runtime read only when a process starts, unless the
// environment already has them. Why: docs/ARCHITECTURE.md, "Allocator and
// start-up settings". If the restart is not possible, the program goes on.
func restartWithSettings() {
	const marker = "GOTRAIN_RESTARTED"
	if os.Getenv(marker) != "" {
		return
	}
	restart := false
	add := func(name, key, setting, sep string) {
		v := os.Getenv(name)
		if strings.Contains(v, key) {
			return
		}
		if v != "" {
			v += sep
		}
		if os.Setenv(name, v+setting) == nil {
			restart = true
		}
	}
	add("GLIBC_TUNABLES", "glibc.malloc.arena_max=", "glibc.malloc.arena_max=1", ":")
	add("GODEBUG", "asyncpreemptoff=", "asyncpreemptoff=1", ",")
	if !restart || os.Setenv(marker, "1") != nil {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, os.Environ())
}

// Exit codes. A run stopped by a signal exits with 128 plus the signal's
// number, as a shell reports a process killed by it: 130 for SIGINT
// (Ctrl-C), 143 for SIGTERM, 129 for SIGHUP.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func run(args []string) int {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := newStopper(cancel, log)
	defer stop.close()
	app := newApp(log, stop)
	err := app.RunContext(ctx, args)
	if sig := stop.signal(); sig != 0 && err != nil {
		if !errors.Is(err, trainer.ErrInterrupted) { // which the run has logged
			fmt.Fprintf(os.Stderr, "trainer: %v\n", err)
		}
		return 128 + int(sig)
	}
	switch {
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

// stopper turns SIGINT, SIGTERM and SIGHUP into the cancellation of the
// command's context, once the command has said that it stops cleanly
// (training writes a checkpoint first); before that, and on a second
// signal, it exits at once. Signals that the process was started with
// ignored (nohup, a background job of a script) stay ignored.
type stopper struct {
	ch       chan os.Signal
	cancel   context.CancelCauseFunc
	log      *logrus.Logger
	graceful atomic.Bool
	first    atomic.Int32 // number of the first signal received
}

func newStopper(cancel context.CancelCauseFunc, log *logrus.Logger) *stopper {
	s := &stopper{ch: make(chan os.Signal, 2), cancel: cancel, log: log}
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
		if !s.first.CompareAndSwap(0, n) || !s.graceful.Load() {
			// The checkpoint of the last finished epoch (or none) stays;
			// temporary files left behind go when the folder is next used.
			fmt.Fprintf(os.Stderr, "\ntrainer: %v: exiting at once\n", sig)
			os.Exit(128 + int(n))
		}
		s.log.Warnf("%v: stopping after the current step (or the current test pass) with a checkpoint; signal again to exit at once", sig)
		s.cancel(fmt.Errorf("stopped by signal (%v)", sig))
	}
}

// stopCleanly says that the command stops cleanly when its context is
// cancelled.
func (s *stopper) stopCleanly() { s.graceful.Store(true) }

// signal returns the first signal received, or 0.
func (s *stopper) signal() syscall.Signal { return syscall.Signal(s.first.Load()) }

func (s *stopper) close() { signal.Stop(s.ch) }

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func newApp(log *logrus.Logger, stop *stopper) *cli.App {
	d := trainer.DefaultConfig()
	app := &cli.App{
		Name:  "trainer",
		Usage: "train a compact CIFAR-10 CNN over libtorch",
		Description: "With no sub-command, trains: the seed recipe (SGD, OneCycleLR, cross-entropy, augmentation)\n" +
			"on CIFAR-10, writing checkpoints, metrics, plots and the final weights into -out.\n" +
			"Without -data it uses ./data, downloading CIFAR-10 there if missing; offline, point\n" +
			"-data at a local copy (folder or archive), e.g. -data ../shared/datasets/cifar10-jpeg.tar.gz.",
		Flags:  append(append(trainFlags(d), techniqueFlags(d)...), logFlags()...),
		Before: func(c *cli.Context) error { return setupLog(c, log) },
		Action: func(c *cli.Context) error {
			stop.stopCleanly()
			return trainAction(c, log)
		},
		Commands: []*cli.Command{
			evaluateCommand(log), predictCommand(log), summaryCommand(), exportCommand(log), cvCommand(log, stop),
			ensembleCommand(log), sweepCommand(log, stop),
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

// onUsageError marks cli's flag parsing errors as usage errors (exit 2).
func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

func setupLog(c *cli.Context, log *logrus.Logger) error {
	lvl, err := logrus.ParseLevel(c.String("log-level"))
	if err != nil {
		return usagef("bad -log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	log.SetLevel(lvl)
	switch c.String("log-format") {
	case "text":
		log.SetFormatter(&logrus.TextFormatter{DisableColors: !progress.IsTerminal(os.Stderr), FullTimestamp: true})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return usagef("bad -log-format %q: want text or json", c.String("log-format"))
	}
	return nil
}

// intOr returns the int flag name's value if it was given, else def.
func intOr(c *cli.Context, name string, def int) int {
	if c.IsSet(name) {
		return c.Int(name)
	}
	return def
}

func trainAction(c *cli.Context, log *logrus.Logger) error {
	if c.NArg() > 0 {
		var names []string
		for _, cmd := range c.App.VisibleCommands() {
			if cmd.Name != "help" {
				names = append(names, cmd.Name)
			}
		}
		return usagef("unexpected argument %q (sub-commands: %s)", c.Args().First(), strings.Join(names, ", "))
	}
	cfg := configFrom(c)
	// A misspelt device is a bad flag; CUDA missing is found by the run.
	if _, err := torch.ResolveDevice(cfg.Device); errors.Is(err, torch.ErrBadDevice) {
		return usageError{err}
	}
	if c.String("resume") == "" {
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
	} else if err := checkResumeFlags(c, c.App.Flags, "run", cfg); err != nil {
		return err
	}
	res, err := trainer.Run(c.Context, cfg, trainer.Options{
		Log: log, Progress: os.Stdout, IsTerminal: progress.IsTerminal(os.Stdout),
		Resume: c.String("resume"), InitFrom: c.String("init-from"), DistTimeout: distTimeout(c),
		Overwrite: c.Bool("overwrite"),
		Override:  resumeOverride(c, cfg, sharesMachine()),
	})
	if err != nil {
		return err
	}
	log.Infof("done: best test accuracy %.2f%%; outputs in %s", res.BestAcc, res.OutDir)
	return nil
}
