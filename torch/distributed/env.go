package distributed

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Env is what torchrun (torch.distributed.run) tells each worker through
// its environment.
type Env struct {
	Rank           int    // RANK: this worker's rank among all
	LocalRank      int    // LOCAL_RANK: its rank on this machine
	WorldSize      int    // WORLD_SIZE
	LocalWorldSize int    // LOCAL_WORLD_SIZE; 0 when not known (see LookupEnv)
	MasterAddr     string // MASTER_ADDR: where the TCPStore is
	MasterPort     int    // MASTER_PORT
	// UseAgentStore (TORCHELASTIC_USE_AGENT_STORE=True): torchrun's agent
	// already hosts the TCPStore at MasterAddr:MasterPort (the static
	// rendezvous of 1.13), so every worker is a client.
	UseAgentStore bool
	RestartCount  int // TORCHELASTIC_RESTART_COUNT: how often the workers were restarted
}

// EnvError reports an environment variable that is missing, malformed or
// inconsistent with the others.
type EnvError struct {
	Var    string
	Value  string
	Reason string
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("torch/distributed: environment: %s=%q: %s", e.Var, e.Value, e.Reason)
}

// LookupEnv reads the variables torchrun sets. ok is false, with no error,
// when neither RANK nor WORLD_SIZE is set: the process was not started as a
// rank of a distributed run. RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
// are required, as for torch.distributed's env:// rendezvous, which needs
// neither LOCAL_RANK nor LOCAL_WORLD_SIZE. Without both, all ranks are
// taken to share one machine (LocalRank is Rank). LOCAL_WORLD_SIZE alone
// must then equal WORLD_SIZE. LOCAL_RANK alone (a launch by hand that
// picks each rank's GPU) leaves the number of ranks per machine unknown:
// LocalWorldSize is WORLD_SIZE when MASTER_ADDR is a loopback address
// (every rank then runs on this machine), else 0, and the ranks are
// treated as spread over machines (see InitProcessGroup).
func LookupEnv() (env Env, ok bool, err error) { return lookupEnv(os.LookupEnv) }

func lookupEnv(get func(string) (string, bool)) (env Env, ok bool, err error) {
	_, hasRank := get("RANK")
	_, hasWorld := get("WORLD_SIZE")
	if !hasRank && !hasWorld {
		return Env{}, false, nil
	}
	num := func(name string, min int, required bool, def int) (int, error) {
		v, set := get(name)
		if !set {
			if required {
				return 0, &EnvError{Var: name, Reason: "not set (torchrun sets it for every worker)"}
			}
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, &EnvError{Var: name, Value: v, Reason: "not an integer"}
		}
		if n < min {
			return 0, &EnvError{Var: name, Value: v, Reason: fmt.Sprintf("less than %d", min)}
		}
		return n, nil
	}
	if env.Rank, err = num("RANK", 0, true, 0); err != nil {
		return Env{}, false, err
	}
	if env.WorldSize, err = num("WORLD_SIZE", 1, true, 0); err != nil {
		return Env{}, false, err
	}
	if env.Rank >= env.WorldSize {
		return Env{}, false, &EnvError{Var: "RANK", Value: strconv.Itoa(env.Rank), Reason: fmt.Sprintf("not below WORLD_SIZE=%d", env.WorldSize)}
	}
	addr, set := get("MASTER_ADDR")
	if !set || addr == "" {
		return Env{}, false, &EnvError{Var: "MASTER_ADDR", Value: addr, Reason: "not set (the host of the TCPStore)"}
	}
	env.MasterAddr = addr
	_, hasLocal := get("LOCAL_RANK")
	_, hasLocalWorld := get("LOCAL_WORLD_SIZE")
	if hasLocal {
		if env.LocalRank, err = num("LOCAL_RANK", 0, true, 0); err != nil {
			return Env{}, false, err
		}
	}
	if hasLocalWorld {
		if env.LocalWorldSize, err = num("LOCAL_WORLD_SIZE", 1, true, 0); err != nil {
			return Env{}, false, err
		}
		if env.LocalWorldSize > env.WorldSize {
			return Env{}, false, &EnvError{Var: "LOCAL_WORLD_SIZE", Value: strconv.Itoa(env.LocalWorldSize), Reason: fmt.Sprintf("above WORLD_SIZE=%d", env.WorldSize)}
		}
	}
	switch {
	case !hasLocal && !hasLocalWorld:
		env.LocalRank, env.LocalWorldSize = env.Rank, env.WorldSize
	case !hasLocal:
		if env.LocalWorldSize != env.WorldSize {
			return Env{}, false, &EnvError{Var: "LOCAL_RANK", Reason: fmt.Sprintf("not set, and LOCAL_WORLD_SIZE=%d is not WORLD_SIZE=%d (which would make it RANK)", env.LocalWorldSize, env.WorldSize)}
		}
		env.LocalRank = env.Rank
	case !hasLocalWorld && isLoopback(addr):
		env.LocalWorldSize = env.WorldSize // every rank reaches the store on this machine's loopback
	}
	if env.LocalWorldSize > 0 && env.LocalRank >= env.LocalWorldSize {
		return Env{}, false, &EnvError{Var: "LOCAL_RANK", Value: strconv.Itoa(env.LocalRank), Reason: fmt.Sprintf("not below LOCAL_WORLD_SIZE=%d", env.LocalWorldSize)}
	}
	if env.MasterPort, err = num("MASTER_PORT", 1, true, 0); err != nil {
		return Env{}, false, err
	}
	if env.MasterPort > 65535 {
		return Env{}, false, &EnvError{Var: "MASTER_PORT", Value: strconv.Itoa(env.MasterPort), Reason: "not a TCP port"}
	}
	switch v, _ := get("TORCHELASTIC_USE_AGENT_STORE"); v {
	case "", "False":
	case "True":
		env.UseAgentStore = true
	default:
		return Env{}, false, &EnvError{Var: "TORCHELASTIC_USE_AGENT_STORE", Value: v, Reason: `neither "True" nor "False"`}
	}
	if env.RestartCount, err = num("TORCHELASTIC_RESTART_COUNT", 0, false, 0); err != nil {
		return Env{}, false, err
	}
	return env, true, nil
}

// isLoopback reports whether host names this machine's loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsStoreServer reports whether this worker hosts the TCPStore: rank 0,
// unless torchrun's agent hosts it already (a worker that also listened
// on MASTER_PORT would fail to bind).
func (e Env) IsStoreServer() bool { return !e.UseAgentStore && e.Rank == 0 }

// NewStore opens the run's store: the TCPStore at MasterAddr:MasterPort,
// hosted by this worker when IsStoreServer, seen through a PrefixStore of
// this restart ("gotrain/attempt_N"), since the agent's store outlives
// restarts and keeps the keys of earlier attempts. timeout bounds the
// connection and every wait for a key.
func (e Env) NewStore(timeout time.Duration) (*Store, error) {
	base, err := NewTCPStore(e.MasterAddr, e.MasterPort, e.IsStoreServer(), timeout)
	if err != nil {
		return nil, fmt.Errorf("torch/distributed: rank %d of %d: %w", e.Rank, e.WorldSize, err)
	}
	defer base.Close()
	return NewPrefixStore(fmt.Sprintf("gotrain/attempt_%d", e.RestartCount), base)
}

// InitProcessGroup forms the process group of the job that env describes,
// as torch.distributed.init_process_group(backend, init_method="env://")
// does: over env's store (NewStore), with backend "gloo" or "nccl".
// opts.Timeout (zero: DefaultTimeout) bounds the rendezvous and every
// collective. When the ranks span several machines (WorldSize above
// LocalWorldSize) and neither opts nor GLOO_SOCKET_IFNAME names where to
// listen, Gloo listens on this machine's hostname, where the others can
// reach it, rather than on the loopback.
func InitProcessGroup(backend string, env Env, opts Options) (*ProcessGroup, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	store, err := env.NewStore(opts.Timeout)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if env.WorldSize > env.LocalWorldSize && opts.Hostname == "" && len(opts.Interfaces) == 0 && os.Getenv("GLOO_SOCKET_IFNAME") == "" {
		if h, err := os.Hostname(); err == nil {
			opts.Hostname = h
		}
	}
	switch backend {
	case "gloo":
		return NewProcessGroupGloo(store, env.Rank, env.WorldSize, opts)
	case "nccl":
		return NewProcessGroupNCCL(store, env.Rank, env.WorldSize, opts)
	}
	return nil, fmt.Errorf("torch/distributed: unknown backend %q (want gloo or nccl)", backend)
}
