package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine-wide state a node changes although it lives in namespaces of its own: kubelet
// sets these sysctls with no opt-out, some paths are fixed in kubelet, containerd and CNI
// whatever their configuration, and cgroups are not namespaced here. hostState records
// them before the node starts and puts them back after it stopped.
var kubeletSysctls = []string{
	"kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

var fixedHostPaths = []string{
	"/var/lib/kubelet", // device-plugins, whatever --root-dir says
	"/var/log/containers",
	"/var/log/pods",
	"/var/lib/cni",    // libcni's result cache
	"/run/containerd", // containerd 1.6 shims' sockets
	"/var/lib/containerd",
	"/usr/libexec/kubernetes",
}

// sharedHostPaths are made for the node too, but others may start using them meanwhile
// (`ip netns add` puts its namespaces in /run/netns): they are removed only when empty.
var sharedHostPaths = []string{
	"/run/netns", // the node mounts a private tmpfs over it for the pods' namespaces
}

const cgroupRoot = "/sys/fs/cgroup"

type hostState struct {
	sysctls       map[string]string
	created       []string // paths absent before the node started
	createdShared []string
}

func recordHostState() (*hostState, error) {
	h := &hostState{sysctls: map[string]string{}}
	for _, s := range kubeletSysctls {
		v, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			continue // not on this kernel
		}
		h.sysctls[s] = strings.TrimSpace(string(v))
	}
	for _, p := range fixedHostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			h.created = append(h.created, p)
		}
	}
	for _, p := range sharedHostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			h.createdShared = append(h.createdShared, p)
		}
	}
	// kubepods cgroups with processes in them belong to a node that is running; empty
	// ones are what a killed run left, and go.
	dirs := kubepodsCgroups()
	if pids := cgroupProcs(dirs); len(pids) > 0 {
		return nil, fmt.Errorf("another node is running: processes %v are in %s", pids, strings.Join(dirs, ", "))
	}
	if err := removeCgroups(dirs); err != nil {
		return nil, fmt.Errorf("cgroups left by an earlier node: %w", err)
	}
	return h, nil
}

// restore undoes what the node did to the machine. netnsLink identifies the node's network
// namespace; any process still in it, or in a pod cgroup, is killed first.
func (h *hostState) restore(netnsLink string) []error {
	var errs []error
	killLeftovers(netnsLink)
	if err := removeCgroups(kubepodsCgroups()); err != nil {
		errs = append(errs, err)
	}
	for s, v := range h.sysctls {
		now, err := os.ReadFile("/proc/sys/" + s)
		if err == nil && strings.TrimSpace(string(now)) == v {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+s, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s=%s: %w", s, v, err))
		}
	}
	for _, p := range h.created {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	for _, p := range h.createdShared {
		_ = syscall.Rmdir(p) // fails, as it should, if someone else uses it now
	}
	return errs
}

// kubepodsCgroups lists the pod cgroup tree in every hierarchy (cgroupfs driver, cgroup
// root "/").
func kubepodsCgroups() []string {
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "kubepods"))
	if _, err := os.Stat(filepath.Join(cgroupRoot, "kubepods")); err == nil {
		dirs = append(dirs, filepath.Join(cgroupRoot, "kubepods"))
	}
	return dirs
}

func cgroupProcs(roots []string) []int {
	seen := map[int]bool{}
	for _, root := range roots {
		_ = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	var pids []int
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// removeCgroups removes each tree deepest first; a cgroup whose last process just died
// can be busy for a moment, so it retries briefly.
func removeCgroups(roots []string) error {
	var last error
	for attempt := 0; attempt < 50; attempt++ {
		last = nil
		for _, root := range roots {
			var dirs []string
			_ = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					dirs = append(dirs, path)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					last = fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
				}
			}
		}
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// killLeftovers kills what outlived the node's own teardown: processes in its network
// namespace (containerd's shims are re-parented away from it) or in a pod cgroup.
func killLeftovers(netnsLink string) {
	pids := cgroupProcs(kubepodsCgroups())
	if netnsLink != "" {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == netnsLink {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		logf("killing leftover process %d (%s)", pid, processName(pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func processName(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	return strings.ReplaceAll(strings.TrimRight(string(data), "\x00"), "\x00", " ")
}
