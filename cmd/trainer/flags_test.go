package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"gotrain/trainer"
)

// resumeTakes are the flags a resumed run takes, as the README lists
// them: those of the machine (trainer.Machine) but -out, and the
// command's -dist-timeout and log flags.
var resumeTakes = []string{"data", "device", "threads", "workers", "channels-last", "device-augment", "tensorboard", "dist-timeout", "log-level", "log-format"}

// testValue returns a valid value for the flag f.
func testValue(f cli.Flag) string {
	switch f.Names()[0] {
	case "dist-timeout":
		return "1s"
	case "device":
		return "cpu"
	case "device-augment":
		return "off"
	case "log-level":
		return "warn"
	case "log-format":
		return "json"
	}
	if _, ok := f.(*cli.BoolFlag); ok {
		return "true"
	}
	return "1"
}

// withFlags runs action on the context of the train command's flags
// parsed from args.
func withFlags(t *testing.T, action func(c *cli.Context), args ...string) {
	t.Helper()
	app := &cli.App{Flags: flagsOf(allOptions()), Action: func(c *cli.Context) error { action(c); return nil }}
	if err := app.Run(append([]string{"trainer"}, args...)); err != nil {
		t.Fatal(err)
	}
}

// TestResumeFlags gives each training flag with -resume: a resumed run
// takes exactly the flags of resumeTakes, and -resume's help names them.
func TestResumeFlags(t *testing.T) {
	var names []string
	for _, f := range flagsOf(allOptions()) {
		name := f.Names()[0]
		names = append(names, name)
		if name == "resume" {
			continue
		}
		arg := "-" + name + "=" + testValue(f)
		withFlags(t, func(c *cli.Context) {
			err := checkResumeFlags(c, c.App.Flags, "run", configFrom(c))
			if take := slices.Contains(resumeTakes, name); take != (err == nil) {
				t.Errorf("-resume %s: %v (a resumed run takes it: %v)", arg, err, take)
			} else if err != nil && !strings.Contains(err.Error(), "-"+name+" cannot be") {
				t.Errorf("-resume %s: refused with %q, which does not name it", arg, err)
			}
		}, "-resume", "ckpt", arg)
	}
	for _, name := range resumeTakes {
		if !slices.Contains(names, name) {
			t.Errorf("no flag -%s", name)
		}
	}
	var usage string
	for _, f := range trainFlags(trainer.DefaultConfig()) {
		if f.Names()[0] == "resume" {
			usage = f.(*cli.StringFlag).Usage
		}
	}
	want := "only -data, -device, -threads, -workers, -channels-last, -device-augment, -tensorboard, -dist-timeout and the log flags may be given"
	if !strings.Contains(usage, want) {
		t.Errorf("-resume's usage %q lacks %q", usage, want)
	}
}

// TestResumeOverride checks that the flags a resumed run takes replace
// the checkpoint's machine settings and leave its training part alone.
func TestResumeOverride(t *testing.T) {
	ck, err := trainer.RecipeConfig(trainer.RecipeBest)
	if err != nil {
		t.Fatal(err)
	}
	ck.Epochs, ck.Threads, ck.Workers, ck.ChannelsLast, ck.Data, ck.Out = 3, 7, 5, true, "/data/cifar", "/runs/a"
	here, err := filepath.Abs("cifar")
	if err != nil {
		t.Fatal(err)
	}
	withFlags(t, func(c *cli.Context) {
		r := ck
		resumeOverride(c, configFrom(c), false)(&r)
		want := ck
		want.Device, want.Threads, want.Workers, want.ChannelsLast, want.DeviceAugment = "cpu", 1, 2, false, "on"
		want.TensorBoard, want.Data = "/tb", here
		if r != want {
			t.Errorf("resumed configuration\n%+v\nwant\n%+v", r, want)
		}
	}, "-resume", "ckpt", "-device", "cpu", "-threads", "1", "-workers", "2", "-channels-last=false", "-device-augment", "on", "-tensorboard", "/tb", "-data", "cifar")
	// Nothing given: the checkpoint's configuration as it is.
	withFlags(t, func(c *cli.Context) {
		r := ck
		resumeOverride(c, configFrom(c), false)(&r)
		if r != ck {
			t.Errorf("resumed configuration with no flags\n%+v\nwant the checkpoint's\n%+v", r, ck)
		}
	}, "-resume", "ckpt")
}
