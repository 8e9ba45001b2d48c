package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// kubeProxyConfig: iptables mode. Connection tracking limits are global to the machine, so
// kube-proxy is told to leave them as they are.
func kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
clusterCIDR: %s
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  # The relays dial the node IP; 127.0.0.1 node ports would need route_localnet.
  localhostNodePorts: false
`, kubeconfig, nodeName, podCIDR)
}

func startKubeProxy(dir, kubeconfig string) (*component, error) {
	bin, err := toolPath("kube-proxy")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(kubeProxyConfig(kubeconfig)), 0o600); err != nil {
		return nil, err
	}
	return startComponent("kube-proxy", filepath.Join(dir, "kube-proxy.log"), nil, bin, "--config="+config, "--v=1")
}
