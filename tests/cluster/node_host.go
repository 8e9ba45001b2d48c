package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runNodeHost is the --node process, in the machine's own namespaces. It publishes the
// API server and the node ports on 127.0.0.1, starts this program again inside a new
// network and mount namespace (the node: control plane, containerd, kubelet, kube-proxy),
// and when that one stops, kills whatever outlived it and puts back what the node changed
// on the machine. The network namespace has no link to the machine's network at all.
func runNodeHost(cfg config) error {
	if err := checkNodePrerequisites(); err != nil {
		return err
	}
	// containerd's sockets live under the directory; a unix socket path has 108 bytes.
	if sock := containerdSocket(filepath.Join(cfg.dir, "node", "containerd")) + ".ttrpc"; len(sock) >= 108 {
		return fmt.Errorf("--dir %s is too long for containerd's socket %s (at most 107 bytes): use a shorter path", cfg.dir, sock)
	}
	ports, err := parsePorts(cfg.publish)
	if err != nil {
		return err
	}
	apiListener, err := listenLoopback(cfg.apiPort)
	if err != nil {
		return err
	}
	defer apiListener.Close()
	listeners := map[int]net.Listener{}
	for _, p := range ports {
		l, err := listenLoopback(p)
		if err != nil {
			return err
		}
		defer l.Close()
		listeners[p] = l
	}
	host, err := recordHostState()
	if err != nil {
		return err
	}
	if err := becomeSubreaper(); err != nil {
		return fmt.Errorf("becoming a subreaper: %w", err)
	}

	apiPort := apiListener.Addr().(*net.TCPAddr).Port
	args := []string{"--dir", cfg.dir, "--node", "--node-inner", "--watch-parent",
		"--api-port", strconv.Itoa(apiPort), "--service-node-port-range", cfg.nodePortRange}
	if cfg.verbose {
		args = append(args, "-v")
	}
	for _, archive := range cfg.imports {
		args = append(args, "--import", archive)
	}
	inner := exec.Command("/proc/self/exe", args...)
	inner.Stdout, inner.Stderr = os.Stdout, os.Stderr
	// Go makes the new mount namespace's mounts private, so nothing mounted for the node
	// (pod volumes, rootfs, network namespaces) ever appears on the machine.
	// Its own process group: a Ctrl-C at the terminal reaches only this process, which
	// then stops the node once, in order.
	inner.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Setpgid: true}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if err := inner.Start(); err != nil {
		return fmt.Errorf("starting the node: %w", err)
	}
	innerDone := make(chan error, 1)
	go func() { innerDone <- inner.Wait() }()

	netnsPath := fmt.Sprintf("/proc/%d/ns/net", inner.Process.Pid)
	// Who must reach what only the node's network has (a Service's ClusterIP, say) runs in
	// its namespace: `nsenter --net=/proc/$(cat DIR/node.pid)/ns/net` (the conformance
	// suite does).
	if err := os.WriteFile(filepath.Join(cfg.dir, "node.pid"), []byte(strconv.Itoa(inner.Process.Pid)), 0o644); err != nil {
		logf("writing node.pid: %v", err)
	}
	netnsLink, _ := os.Readlink(netnsPath)
	netns, err := os.Open(netnsPath)
	if err != nil {
		_ = inner.Process.Kill()
		<-innerDone
		reapOrphans()
		host.restore("")
		return fmt.Errorf("opening the node's network namespace: %w", err)
	}
	defer netns.Close()
	go (&relay{listener: apiListener, netns: netns, target: fmt.Sprintf("%s:%d", nodeIPString, innerAPIPort)}).serve()
	for p, l := range listeners {
		go (&relay{listener: l, netns: netns, target: fmt.Sprintf("%s:%d", nodeIPString, p)}).serve()
	}

	parentGone := make(chan struct{})
	if cfg.watchParent {
		go func() {
			parent := os.Getppid()
			for range time.Tick(500 * time.Millisecond) {
				if os.Getppid() != parent {
					close(parentGone)
					return
				}
			}
		}()
	}

	var runErr error
	select {
	case err := <-innerDone:
		runErr = fmt.Errorf("the node stopped: %v", err)
	case s := <-signals:
		logf("received %v, stopping the node", s)
		runErr = stopInner(inner, innerDone, signals)
	case <-parentGone:
		logf("parent went away, stopping the node")
		runErr = stopInner(inner, innerDone, signals)
	}
	_ = os.Remove(cfg.dir + "/kubeconfig")
	reapOrphans()
	errs := host.restore(netnsLink)
	if len(errs) > 0 {
		for _, e := range errs {
			logf("teardown: %v", e)
		}
		errs = append([]error{runErr}, errs...)
		return errors.Join(errs...)
	}
	logf("node torn down")
	return runErr
}

// stopInner asks the node to stop and waits; a second signal or a hang kills it (what it
// leaves behind is then killed and removed by reapOrphans and hostState.restore).
func stopInner(inner *exec.Cmd, done <-chan error, signals <-chan os.Signal) error {
	_ = inner.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the node stopped with %v", err)
		}
		return nil
	case <-signals:
		logf("second signal: killing the node")
	case <-time.After(100 * time.Second):
		logf("the node did not stop within 100s; killing it")
	}
	_ = inner.Process.Kill()
	<-done
	return errors.New("the node had to be killed")
}

func parsePorts(list string) ([]int, error) {
	var ports []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("--publish: %q is not a port", f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}
