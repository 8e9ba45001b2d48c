package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The node's addresses. They exist only inside the node's own network namespace, so they
// can never clash with, or leak onto, the machine's network; the machine reaches the node
// through relays on 127.0.0.1 (relay.go).
const (
	nodeName      = "sluice-node"
	nodeIPString  = "10.250.0.2"
	nodeLink      = "eth0"
	nodeLinkPeer  = "eth0-peer"
	podCIDR       = "10.244.0.0/16"
	serviceCIDR   = "10.0.0.0/16"
	innerAPIPort  = 6443
	netnsMountDir = "/run/netns"
)

var nodeIP = net.ParseIP(nodeIPString)

// setupNodeNetwork runs first in the process inside the new network and mount namespaces.
// It gives the node a non-loopback address (kubelet refuses loopback; this kernel has no
// dummy links, so a veth pair whose both ends stay inside), the forwarding sysctls the CNI
// bridge needs, and a guard that forwards nothing out of the node.
func setupNodeNetwork(dir string) error {
	// The lock guards this namespace's tables, which nobody outside uses: a lock file of the
	// node's own keeps iptables (kubelet's and kube-proxy's too, which inherit this) from
	// making /run/xtables.lock on the machine.
	if err := os.Setenv("XTABLES_LOCKFILE", filepath.Join(dir, "xtables.lock")); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", nodeLink, "type", "veth", "peer", "name", nodeLinkPeer},
		{"ip", "addr", "add", nodeIPString + "/24", "dev", nodeLink},
		{"ip", "link", "set", nodeLink, "up"},
		{"ip", "link", "set", nodeLinkPeer, "up"},
		// A default route, so that traffic to a ClusterIP from the node itself finds a route
		// before kube-proxy's DNAT rewrites it; the gateway does not exist, so nothing leaves.
		{"ip", "route", "add", "default", "via", "10.250.0.1", "dev", nodeLink, "onlink"},
		{"iptables", "-w", "-I", "FORWARD", "-o", nodeLink, "-j", "DROP", "-m", "comment", "--comment", "sluice: pods reach nothing outside the node"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	// Per network namespace, so these change nothing on the machine.
	for path, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                 "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", path, err)
		}
	}
	// containerd bind-mounts each pod's network namespace under /run/netns; a tmpfs private
	// to this mount namespace keeps those files off the machine's /run.
	if err := os.MkdirAll(netnsMountDir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", netnsMountDir, "tmpfs", 0, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", netnsMountDir, err)
	}
	return nil
}

// toolPath finds a tool built next to this binary (target/tools).
func toolPath(name string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	path := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s is missing: run `make tools`", path)
	}
	return path, nil
}
