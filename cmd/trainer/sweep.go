package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/sweep"
	"gotrain/torch"
	"gotrain/trainer"
)

// defaultSweepOut is sweep's -out.
const defaultSweepOut = "runs/sweep"

// sweepTrainingFlags are the training flags that a sweep passes to its
// trials, fixed or swept: the training command's, but for those that name
// one run's folder.
func sweepTrainingFlags() []cli.Flag {
	d := trainer.DefaultConfig()
	var flags []cli.Flag
	for _, f := range append(trainFlags(d), techniqueFlags(d)...) {
		switch f.Names()[0] {
		case "out", "resume", "overwrite":
			continue
		}
		flags = append(flags, f)
	}
	return flags
}

// isMachineFlag reports whether a flag is a setting of the machine that a
// resumed run takes (-device, -threads, ...; see the flag table): a sweep
// passes it to every start of every trial and does not keep it in its
// plan, so that a continuation or another worker may set it otherwise.
// -data is not one here, though a resumed run takes it: the data set is
// the experiment's, kept in the plan (as an absolute path) so that every
// trial, however and wherever it is started, trains on the same images.
func isMachineFlag(name string) bool {
	if name == "data" {
		return false
	}
	for _, o := range allOptions() {
		if o.name() == name {
			return o.takenOnResume() && name != "resume"
		}
	}
	return false
}

// paramValue collects the repeated -param flags.
type paramValue struct{ list []string }

func (p *paramValue) Set(s string) error { p.list = append(p.list, s); return nil }
func (p *paramValue) String() string     { return strings.Join(p.list, " ") }

func sweepCommand(log *logrus.Logger, stop *stopper) *cli.Command {
	flags := append(sweepTrainingFlags(),
		&cli.StringFlag{Name: "out", Value: defaultSweepOut, Usage: "the sweep's folder: sweep.csv, sweep.json, sweep.md, plots and a run folder per trial"},
		&cli.GenericFlag{Name: "param", Value: &paramValue{}, Usage: "a swept training flag and its values, NAME=V1,V2,... (A..B: the integers A to B); repeat it for a grid", DefaultText: "none"},
		&cli.StringFlag{Name: "space", Usage: "a file of the search space: a NAME=V1,V2,... line per parameter, and optionally `random N` and `random-seed S`"},
		&cli.IntFlag{Name: "random", Usage: "draw N distinct trials of the grid at random instead of running all of it"},
		&cli.Uint64Flag{Name: "random-seed", Value: 1, Usage: "seed of the -random draw"},
		&cli.IntFlag{Name: "parallel", Value: 1, Usage: "trials run at once, each with its share of the CPUs as -threads and -workers unless those are given"},
		&cli.IntFlag{Name: "trial", Usage: "run only trial I (0-based; default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX where set, else all)"},
		&cli.BoolFlag{Name: "collect", Usage: "only write the results table and plots from the trials that have finished"},
		&cli.BoolFlag{Name: "list", Usage: "only print the trials: index, folder and flags"},
		&cli.BoolFlag{Name: "retry-failed", Usage: "run failed trials again (they are otherwise kept as failed)"},
	)
	return &cli.Command{
		Name:  "sweep",
		Usage: "run a training run per point of a search space (grid or random), several at once or as a job array",
		UsageText: "trainer sweep -param NAME=V1,V2 [-param ...] [-random N] [training flags] [-parallel P] [-out DIR]\n" +
			"trainer sweep -out DIR [-trial I | -collect | -list]",
		Description: "Each trial is an ordinary run of this program in DIR/NAME=VALUE_..., with the given training flags and its\n" +
			"own settings. A trial that finished is not run again, an interrupted one resumes from its checkpoint, and a\n" +
			"failing one is recorded with its exit code and error while the others go on; running the command again on\n" +
			"DIR (with the same flags, or -out DIR alone) continues the sweep, and several workers may share it: each\n" +
			"trial is locked by the worker running it. At the end (and with -collect) DIR/sweep.csv, sweep.json, sweep.md\n" +
			"(sorted by test accuracy) and sweep_NAME.png are written from the trials' metrics files.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return sweepAction(c, log, stop) },
	}
}

func sweepAction(c *cli.Context, log *logrus.Logger, stop *stopper) error {
	if err := noArgs(c); err != nil {
		return err
	}
	dir := c.String("out")
	if dir == "" {
		return usagef("sweep: -out must name a folder")
	}
	// Trials get absolute folders, whatever their worker's working folder.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	planned, err := sweepPlanFrom(c)
	if err != nil {
		return err
	}
	if c.Bool("list") {
		p := planned
		if p == nil {
			saved, err := sweep.Open(dir, nil)
			if err != nil {
				return err
			}
			p = &saved
		}
		for _, t := range p.Trials {
			fmt.Printf("%d\t%s\t%s\n", t.Index, t.Name, strings.Join(append(slices.Clone(p.Args), t.Args()...), " "))
		}
		return nil
	}
	if c.Bool("collect") {
		if planned != nil {
			if _, err := sweep.Open(dir, planned); err != nil {
				return err
			}
		}
		return writeSweepTable(dir, log)
	}
	trial, single, err := arrayTask(c, "sweep")
	if err != nil {
		return err
	}
	if single && planned != nil && trial >= len(planned.Trials) {
		return usagef("sweep: trial %d: the sweep has trials 0 to %d", trial, len(planned.Trials)-1)
	}
	machine, err := sweepMachineArgs(c)
	if err != nil {
		return err
	}
	plan, err := sweep.Open(dir, planned)
	if err != nil {
		return err
	}
	if single && trial >= len(plan.Trials) {
		return usagef("sweep: trial %d: the sweep has trials 0 to %d", trial, len(plan.Trials)-1)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sweep: the trainer's own path: %w", err)
	}
	r := &sweep.Runner{Dir: dir, Plan: plan, Program: exe, MachineArgs: machine, Parallel: c.Int("parallel"),
		RetryFailed: c.Bool("retry-failed"), Log: log}
	if r.Parallel == 1 {
		r.Output = os.Stdout
	}
	var indices []int
	if single {
		indices = []int{trial}
		log.Infof("sweep %s: trial %d of %d", dir, trial, len(plan.Trials))
	} else {
		log.Infof("sweep %s: %d trials, %d at once (%s each)", dir, len(plan.Trials), r.Parallel, strings.Join(machine, " "))
	}
	stop.stopCleanly()
	out, runErr := r.Run(c.Context, indices)
	if !single {
		if err := writeSweepTable(dir, log); err != nil {
			return errors.Join(runErr, err)
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case out.Failed > 0 && single:
		rec, _ := sweep.ReadRecord(filepath.Join(dir, plan.Trials[trial].Name))
		return fmt.Errorf("sweep: trial %d failed with exit %d: %s", trial, rec.ExitCode, rec.Error)
	case out.Failed > 0:
		return fmt.Errorf("sweep: %d of %d trials failed (see %s/%s)", out.Failed, len(plan.Trials), dir, sweep.MarkdownFile)
	}
	if out.Held > 0 {
		log.Infof("%d trials were run by other workers at the time: trainer sweep -collect -out %s when they are done", out.Held, dir)
	}
	return nil
}

// sweepPlanFrom returns the plan that the flags describe, or nil if they
// give neither a parameter nor a training flag (the sweep in -out then
// goes on as it was planned). Bad parameters and values are usage errors.
func sweepPlanFrom(c *cli.Context) (*sweep.Plan, error) {
	var space sweep.Space
	params := c.Generic("param").(*paramValue).list
	if c.IsSet("space") {
		if len(params) > 0 {
			return nil, usagef("sweep: give -param or -space, not both")
		}
		var err error
		if space, err = sweep.ReadSpace(c.String("space")); err != nil {
			return nil, usageError{err}
		}
	}
	for _, s := range params {
		p, err := sweep.ParseParam(s)
		if err != nil {
			return nil, usageError{err}
		}
		space.Params = append(space.Params, p)
	}
	if c.IsSet("random") {
		space.Random = c.Int("random")
		if space.Random < 1 {
			return nil, usagef("sweep: -random must be at least 1, got %d", space.Random)
		}
	}
	if c.IsSet("random-seed") || !c.IsSet("space") {
		space.RandomSeed = c.Uint64("random-seed")
	}
	if space.Random == 0 {
		space.RandomSeed = 0
	}
	training := sweepTrainingFlags()
	var args []string
	for _, f := range training {
		name := f.Names()[0]
		if !c.IsSet(name) || isMachineFlag(name) {
			continue
		}
		v := fmt.Sprint(c.Value(name))
		if name == "data" {
			abs, err := filepath.Abs(v)
			if err != nil {
				return nil, fmt.Errorf("sweep: -data: %w", err)
			}
			v = abs
		}
		args = append(args, "-"+name+"="+v)
	}
	if len(space.Params) == 0 {
		if len(args) > 0 || c.IsSet("random") {
			return nil, usagef("sweep: give the parameters to sweep (-param NAME=V1,V2 or -space FILE)")
		}
		return nil, nil
	}
	for _, p := range space.Params {
		i := slices.IndexFunc(training, func(f cli.Flag) bool { return f.Names()[0] == p.Name })
		switch {
		case i < 0:
			return nil, usagef("sweep: -param %s: no such training flag", p.Name)
		case isMachineFlag(p.Name):
			return nil, usagef("sweep: -param %s: a setting of the machine, the same for every trial, cannot be swept", p.Name)
		case c.IsSet(p.Name):
			return nil, usagef("sweep: -%s is both given and swept", p.Name)
		}
	}
	plan, err := sweep.NewPlan(space, args)
	if err != nil {
		return nil, usageError{fmt.Errorf("sweep: %w", err)}
	}
	// Each trial's flags must parse, so that a typo fails now and not in
	// every trial.
	for _, t := range plan.Trials {
		fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		for _, f := range training {
			if err := f.Apply(fs); err != nil {
				return nil, err
			}
		}
		if err := fs.Parse(append(slices.Clone(plan.Args), t.Args()...)); err != nil {
			return nil, usagef("sweep: trial %d (%s): %v", t.Index, t.Name, err)
		}
	}
	return &plan, nil
}

// arrayTask returns the one trial (0-based) that a command runs, from
// -trial or the job array's environment, and whether there is one; cmd
// names the command in errors.
func arrayTask(c *cli.Context, cmd string) (int, bool, error) {
	if c.IsSet("trial") {
		if i := c.Int("trial"); i >= 0 {
			return i, true, nil
		}
		return 0, false, usagef("%s: -trial must not be negative, got %d", cmd, c.Int("trial"))
	}
	for _, name := range []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"} {
		if v, ok := os.LookupEnv(name); ok {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return 0, false, usagef("%s: $%s=%q is not a trial index", cmd, name, v)
			}
			return i, true, nil
		}
	}
	return 0, false, nil
}

// sweepMachineArgs returns the machine's flags for every trial: those
// given, and -threads and -workers as this machine's defaults split over
// -parallel trials unless given.
func sweepMachineArgs(c *cli.Context) ([]string, error) {
	p := c.Int("parallel")
	if p < 1 {
		return nil, usagef("sweep: -parallel must be at least 1, got %d", p)
	}
	d := torch.DeviceDefaultsFor(c.String("device"))
	threads, workers := intOr(c, "threads", max(1, d.Threads/p)), intOr(c, "workers", max(1, d.Workers/p))
	if threads < 1 || workers < 1 {
		return nil, usagef("threads and workers must be at least 1, got %d and %d", threads, workers)
	}
	args := []string{"-threads=" + strconv.Itoa(threads), "-workers=" + strconv.Itoa(workers)}
	for _, f := range sweepTrainingFlags() {
		name := f.Names()[0]
		if c.IsSet(name) && isMachineFlag(name) && name != "threads" && name != "workers" {
			args = append(args, "-"+name+"="+fmt.Sprint(c.Value(name)))
		}
	}
	return args, nil
}

// writeSweepTable collects the sweep in dir, writes its table and plots,
// and prints the markdown summary.
func writeSweepTable(dir string, log *logrus.Logger) error {
	t, err := sweep.Collect(dir)
	if err != nil {
		return err
	}
	if err := t.Write(); err != nil {
		return err
	}
	if err := t.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	log.Infof("sweep %s: %d of %d trials done, %d failed; table in %s", dir, t.Count(sweep.Done), len(t.Rows), t.Count(sweep.Failed), dir)
	return nil
}
