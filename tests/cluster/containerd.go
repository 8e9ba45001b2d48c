package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The sandbox ("pause") image. kubelet 1.35 no longer passes one, so containerd's
// sandbox_image names it; `make images` builds an archive carrying this name.
const pauseImage = "registry.k8s.io/pause:3.10"

// containerdConfig is a private containerd: every path under dir, nothing shared with a
// containerd the machine may run.
func containerdConfig(dir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # This machine lacks CAP_SYS_RESOURCE: without this runc fails every pod with "can't get
  # final child's PID from pipe: EOF" (it cannot lower oom_score_adj).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
    conf_template = %[9]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), containerdSocket(dir), containerdSocket(dir)+".ttrpc",
		filepath.Join(dir, "opt"), pauseImage, filepath.Join(dir, "runc"),
		filepath.Join(dir, "cni", "net.d"), filepath.Join(dir, "cni", "template.json"))
}

// cniTemplate is the pod network: one bridge, addresses from the node's pod CIDR, which
// containerd fills in when kubelet passes it on. The IPAM state stays in dir.
func cniTemplate(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "sluice",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "hairpinMode": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Join(dir, "cni", "networks"))
}

func containerdSocket(dir string) string { return filepath.Join(dir, "containerd.sock") }

func startContainerd(ctx context.Context, dir string) (*component, error) {
	for _, d := range []string{dir, filepath.Join(dir, "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(containerdConfig(dir)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cni", "template.json"), []byte(cniTemplate(dir)), 0o600); err != nil {
		return nil, err
	}
	// A missing image must fail at once with a clear error, not wait on a registry this
	// machine cannot reach: proxies point at a closed port.
	env := []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY="}
	c, err := startComponent("containerd", filepath.Join(dir, "containerd.log"), env, "containerd", "--config", config)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(containerdSocket(dir)); err == nil {
			return c, nil
		}
		select {
		case <-c.done:
			return nil, c.exitReport()
		case <-ctx.Done():
			c.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop(5 * time.Second)
			return nil, fmt.Errorf("containerd did not create %s within 30s:\n%s", containerdSocket(dir), lastLines(c.log, 20))
		}
	}
}
