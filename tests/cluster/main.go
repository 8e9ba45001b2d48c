// Command cluster runs a real Kubernetes control plane in one process on 127.0.0.1:
// an embedded etcd, kube-apiserver and kube-controller-manager, built from the upstream
// Go modules. Sluice's end-to-end tests and `make cluster` / `make demo` use it.
//
// It writes an admin kubeconfig to DIR/kubeconfig once /readyz answers ok, runs in the
// foreground, and on SIGTERM/SIGINT (or when its parent dies, with --watch-parent) stops
// everything. Being one process, nothing is left behind when it exits.
//
// With --node it runs a real single-node cluster instead (see node_host.go): the same
// control plane plus kube-scheduler, containerd, kubelet and kube-proxy, all inside a network
// namespace of their own; the API server and node ports are published on 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	dir           string
	apiPort       int
	nodePortRange string
	watchParent   bool
	verbose       bool
	// node runs a real node; nodeInner marks the process that runs inside the node's
	// namespaces (started by the --node process itself, never by hand).
	node      bool
	nodeInner bool
	publish   string
	imports   []string // image archives imported into the node's containerd before kubelet starts
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.dir, "dir", "", "directory for state, certificates and the admin kubeconfig (required)")
	flag.IntVar(&cfg.apiPort, "api-port", 0, "kube-apiserver secure port on 127.0.0.1 (0: pick a free one)")
	flag.StringVar(&cfg.nodePortRange, "service-node-port-range", "30000-32767", "NodePort range; must contain 30000-32767")
	flag.BoolVar(&cfg.watchParent, "watch-parent", false, "exit when the parent process goes away")
	flag.BoolVar(&cfg.verbose, "v", false, "show the components' own logs")
	flag.BoolVar(&cfg.node, "node", false, "also run a real node (containerd, kubelet, kube-proxy) in a network namespace of its own")
	flag.StringVar(&cfg.publish, "publish", "30080,30443", "with --node: node ports published on the same port of 127.0.0.1")
	flag.Func("import", "with --node: an image archive to import into the node's containerd before kubelet starts (repeatable)", func(v string) error {
		abs, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("image archive %s: %w (run `make test-images`)", v, err)
		}
		cfg.imports = append(cfg.imports, abs)
		return nil
	})
	flag.BoolVar(&cfg.nodeInner, "node-inner", false, "internal: this process runs inside the node's namespaces")
	flag.Parse()
	if cfg.dir == "" {
		return errors.New("--dir is required")
	}
	dir, err := filepath.Abs(cfg.dir)
	if err != nil {
		return err
	}
	cfg.dir = dir
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return err
	}
	// A kubeconfig left by an earlier run must not be mistaken for readiness.
	kubeconfigPath := filepath.Join(cfg.dir, "kubeconfig")
	_ = os.Remove(kubeconfigPath)
	if cfg.node && !cfg.nodeInner {
		return runNodeHost(cfg)
	}

	quietLogs(cfg.verbose, cfg.dir)

	// ctx is the control plane's lifetime; stopping is a request to stop, which first takes
	// the node down while the API server still answers, then ends ctx.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopping, requestStop := context.WithCancel(ctx)
	defer requestStop()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-signals
		logf("received %v, stopping", s)
		requestStop()
		// A second signal, or a shutdown that hangs, must still end the process.
		select {
		case <-signals:
		case <-time.After(forceExitAfter(cfg)):
		}
		logf("forced exit")
		os.Exit(2)
	}()
	if cfg.watchParent {
		go watchParent(requestStop)
	}

	started := time.Now()
	var extraIPs []net.IP
	listenAddr := fmt.Sprintf("127.0.0.1:%d", cfg.apiPort)
	if cfg.nodeInner {
		if err := setupNodeNetwork(cfg.dir); err != nil {
			return fmt.Errorf("node network: %w", err)
		}
		extraIPs = []net.IP{nodeIP}
		// Inside the node's namespace, where the node and its pods reach it; the machine
		// reaches it through the relay on 127.0.0.1:cfg.apiPort.
		listenAddr = fmt.Sprintf("0.0.0.0:%d", innerAPIPort)
	}
	pki, err := writePKI(filepath.Join(cfg.dir, "pki"), extraIPs...)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	var nodeCerts *nodePKI
	if cfg.nodeInner {
		if nodeCerts, err = pki.writeNodePKI(nodeName, nodeIP); err != nil {
			return fmt.Errorf("node certificates: %w", err)
		}
	}

	etcd, err := startEtcd(filepath.Join(cfg.dir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.stop()
	logf("etcd ready at %s", etcd.clientURL)

	listener, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("kube-apiserver listener: %w", err)
	}
	apiPort := listener.Addr().(*net.TCPAddr).Port
	apiDone, err := startAPIServer(ctx, apiServerConfig{
		listener:      listener,
		port:          apiPort,
		pki:           pki,
		etcdURL:       etcd.clientURL,
		nodePortRange: cfg.nodePortRange,
		certDir:       filepath.Join(cfg.dir, "apiserver"),
		node:          nodeCerts,
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	adminKubeconfig := filepath.Join(cfg.dir, "admin.kubeconfig.tmp")
	if err := writeKubeconfig(adminKubeconfig, server, pki); err != nil {
		return err
	}
	if err := waitReady(stopping, adminKubeconfig, apiDone); err != nil {
		return fmt.Errorf("kube-apiserver did not become ready: %w", err)
	}
	logf("kube-apiserver ready at %s", server)

	kcmDone, err := startControllerManager(ctx, adminKubeconfig, pki, cfg.nodeInner)
	if err != nil {
		return fmt.Errorf("kube-controller-manager: %w", err)
	}

	// Without a node these never fire.
	var schedDone <-chan error
	var nodeExited <-chan *component
	var n *node
	if cfg.nodeInner {
		if schedDone, err = startScheduler(ctx, adminKubeconfig); err != nil {
			return fmt.Errorf("kube-scheduler: %w", err)
		}
		inner := filepath.Join(cfg.dir, "admin-inner.kubeconfig")
		if err := os.Rename(adminKubeconfig, inner); err != nil {
			return err
		}
		adminKubeconfig = inner
		n, err = startNode(stopping, filepath.Join(cfg.dir, "node"), fmt.Sprintf("https://%s:%d", nodeIPString, innerAPIPort), adminKubeconfig, pki, nodeCerts, cfg.imports)
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		defer n.stop()
		nodeExited = n.exited()
		// The machine's kubeconfig names the relay.
		adminKubeconfig = filepath.Join(cfg.dir, "kubeconfig.tmp")
		if err := writeKubeconfig(adminKubeconfig, fmt.Sprintf("https://127.0.0.1:%d", cfg.apiPort), pki); err != nil {
			return err
		}
	}

	// Readiness is signalled by the kubeconfig appearing, so write it atomically.
	if err := os.Rename(adminKubeconfig, kubeconfigPath); err != nil {
		return err
	}
	logf("ready in %.1fs; export KUBECONFIG=%s", time.Since(started).Seconds(), kubeconfigPath)

	var runErr error
	select {
	case <-stopping.Done():
	case err := <-apiDone:
		runErr = fmt.Errorf("kube-apiserver stopped: %v", err)
	case err := <-kcmDone:
		runErr = fmt.Errorf("kube-controller-manager stopped: %v", err)
	case err := <-schedDone:
		runErr = fmt.Errorf("kube-scheduler stopped: %v", err)
	case c := <-nodeExited:
		logf("%s exited; stopping the cluster", c.name)
		runErr = c.exitReport()
	}
	_ = os.Remove(kubeconfigPath)
	if n != nil {
		n.stop()
	}
	cancel()
	waitOrTimeout(kcmDone, 10*time.Second)
	waitOrTimeout(apiDone, 15*time.Second)
	logf("stopped")
	return runErr
}

// forceExitAfter bounds a shutdown; a node's takes longer (pods, sandboxes, containerd).
func forceExitAfter(cfg config) time.Duration {
	if cfg.nodeInner {
		return 90 * time.Second
	}
	return 20 * time.Second
}

func waitOrTimeout(ch <-chan error, d time.Duration) {
	select {
	case <-ch:
	case <-time.After(d):
	}
}

// watchParent cancels when this process is re-parented, i.e. whoever started it died
// without stopping it (a test binary killed mid-run).
func watchParent(cancel context.CancelFunc) {
	parent := os.Getppid()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != parent {
			logf("parent %d went away, stopping", parent)
			cancel()
			return
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cluster: "+format+"\n", args...)
}
