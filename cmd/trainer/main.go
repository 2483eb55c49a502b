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
	"strings"
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

// Exit codes; a run stopped by a signal exits with 128 plus its number
// (exitStatus).
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
	stop := newStopper(cancel, log, isRank())
	defer stop.close()
	app := newApp(log, stop)
	err := app.RunContext(ctx, args)
	return exitStatus(err, stop.signal(), log)
}

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
