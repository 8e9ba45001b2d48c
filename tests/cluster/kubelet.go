package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// kubeletConfig is the KubeletConfiguration for this machine kind; each departure from the
// defaults is a trap found on it (see shared/notes/node.md).
func kubeletConfig(dir, caCert, containerdSock string, n *nodePKI) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix://%s
# cgroup v1 hybrid here: kubelet 1.35 refuses it unless told not to, and containerd 1.6
# cannot tell kubelet its driver, so both use cgroupfs.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
resolvConf: /etc/resolv.conf
# Images are imported, never pulled: garbage collecting or evicting them would break pods
# for good, so only a nearly full disk may.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 10Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
# Keep kubelet's files in the cluster's directory rather than on the machine.
podLogsDir: %q
volumePluginDir: %q
serializeImagePulls: false
`, caCert, n.kubeletServingCert, n.kubeletServingKey, containerdSock,
		filepath.Join(dir, "pod-logs"), filepath.Join(dir, "volume-plugins"))
}

func startKubelet(dir, kubeconfig, caCert, containerdSock string, n *nodePKI) (*component, error) {
	bin, err := toolPath("kubelet")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o700); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(dir, caCert, containerdSock, n)), 0o600); err != nil {
		return nil, err
	}
	return startComponent("kubelet", filepath.Join(dir, "kubelet.log"), nil, bin,
		"--config="+config,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(dir, "root"),
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--hostname-override="+nodeName,
		"--node-ip="+nodeIPString,
		"--v=1",
	)
}
