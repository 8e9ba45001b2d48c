package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// checkNodePrerequisites names the Debian package for anything the node needs that is
// missing, all at once, before anything is started.
func checkNodePrerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("a node needs root (network namespaces, mounts, cgroups)")
	}
	missing := map[string][]string{} // package → what is missing from it
	var order []string
	need := func(pkg, what string, ok bool) {
		if ok {
			return
		}
		if _, seen := missing[pkg]; !seen {
			order = append(order, pkg)
		}
		missing[pkg] = append(missing[pkg], what)
	}
	onPath := func(name string) bool { _, err := exec.LookPath(name); return err == nil }
	isFile := func(path string) bool { _, err := os.Stat(path); return err == nil }

	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		need("containerd", b, onPath(b))
	}
	need("runc", "runc", onPath("runc"))
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		need("containernetworking-plugins", "/usr/lib/cni/"+p, isFile("/usr/lib/cni/"+p))
	}
	for _, b := range []string{"iptables", "iptables-save", "iptables-restore"} {
		need("iptables", b, onPath(b))
	}
	need("iproute2", "ip", onPath("ip"))
	var problems []string
	if len(order) > 0 {
		var lines []string
		for _, pkg := range order {
			lines = append(lines, fmt.Sprintf("  %s (missing: %s)", pkg, strings.Join(missing[pkg], ", ")))
		}
		problems = append(problems, fmt.Sprintf("the node needs these Debian packages:\n%s\ninstall them with: apt-get install -y %s",
			strings.Join(lines, "\n"), strings.Join(order, " ")))
	}
	for _, t := range []string{"kubelet", "kube-proxy"} {
		if _, err := toolPath(t); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}
