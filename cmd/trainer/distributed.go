package main

import (
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"gotrain/torch"
	"gotrain/torch/distributed"
)

// distTimeoutFlag bounds a torchrun job's rendezvous and collectives.
func distTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "dist-timeout", Value: distributed.DefaultTimeout,
		Usage: "under torchrun: how long to wait for the other processes to join, and for any collective, before failing"}
}

// rankDefaults adjusts the device defaults for one of several processes
// that torchrun started on this machine (LOCAL_WORLD_SIZE > 1): on the
// CPU they share its cores, so each takes OMP_NUM_THREADS libtorch threads
// (torchrun sets 1) or else 1, and its share of the loader goroutines.
func rankDefaults(d torch.DeviceDefaults, device string) torch.DeviceDefaults {
	env, ok, err := distributed.LookupEnv()
	if err != nil || !ok || env.LocalWorldSize <= 1 {
		return d
	}
	dev, err := torch.ResolveDevice(device)
	if err == nil && dev.Type == torch.CPUType {
		d.Threads = 1
		if n, err := strconv.Atoi(os.Getenv("OMP_NUM_THREADS")); err == nil && n >= 1 {
			d.Threads = n
		}
	}
	d.Workers = max(1, min(d.Workers, runtime.NumCPU()/env.LocalWorldSize))
	return d
}

// sharesMachine reports whether torchrun started several processes on
// this machine: a resumed run then takes this job's rankDefaults rather
// than the threads and workers in its checkpoint.
func sharesMachine() bool {
	env, ok, err := distributed.LookupEnv()
	return err == nil && ok && env.LocalWorldSize > 1
}

// distTimeout returns -dist-timeout's value.
func distTimeout(c *cli.Context) time.Duration { return c.Duration("dist-timeout") }

// isRank reports whether torchrun (or a launch by hand with its
// variables) started this process as a rank of a job.
func isRank() bool {
	_, ok, err := distributed.LookupEnv()
	return err == nil && ok
}
