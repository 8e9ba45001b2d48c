package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// node is the running node: containerd, kubelet and kube-proxy, children of this process,
// which itself runs inside the node's network and mount namespaces.
type node struct {
	dir        string
	containerd *component
	kubelet    *component
	kubeProxy  *component
}

// startNode starts the node's components against the API server at server, and waits
// until the Node is Ready.
func startNode(ctx context.Context, dir, server, adminKubeconfig string, p *pki, np *nodePKI, imports []string) (*node, error) {
	n := &node{dir: dir}
	kubeletKubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	if err := writeKubeconfigFor(kubeletKubeconfig, server, p.caCert, "system:node:"+nodeName, np.kubeletClientCert, np.kubeletClientKey); err != nil {
		return nil, err
	}
	proxyKubeconfig := filepath.Join(dir, "kube-proxy.kubeconfig")
	if err := writeKubeconfigFor(proxyKubeconfig, server, p.caCert, "system:kube-proxy", np.kubeProxyCert, np.kubeProxyKey); err != nil {
		return nil, err
	}
	var err error
	if n.containerd, err = startContainerd(ctx, filepath.Join(dir, "containerd")); err != nil {
		return nil, err
	}
	for _, archive := range imports {
		if err := importImage(containerdSocket(filepath.Join(dir, "containerd")), archive); err != nil {
			n.stop()
			return nil, err
		}
	}
	if n.kubelet, err = startKubelet(filepath.Join(dir, "kubelet"), kubeletKubeconfig, p.caCert, containerdSocket(filepath.Join(dir, "containerd")), np); err != nil {
		n.stop()
		return nil, err
	}
	if n.kubeProxy, err = startKubeProxy(filepath.Join(dir, "kube-proxy"), proxyKubeconfig); err != nil {
		n.stop()
		return nil, err
	}
	started := time.Now()
	if err := n.waitReady(ctx, adminKubeconfig); err != nil {
		n.stop()
		return nil, err
	}
	logf("node %s Ready %.1fs after kubelet started", nodeName, time.Since(started).Seconds())
	return n, nil
}

// exited yields the first component that exits.
func (n *node) exited() <-chan *component {
	ch := make(chan *component, 3)
	for _, c := range []*component{n.containerd, n.kubelet, n.kubeProxy} {
		go func() {
			<-c.done
			ch <- c
		}()
	}
	return ch
}

func (n *node) waitReady(ctx context.Context, kubeconfig string) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	exited := n.exited()
	deadline := time.After(2 * time.Minute)
	state := "not registered"
	for {
		select {
		case c := <-exited:
			return c.exitReport()
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("node %s not Ready after 2m (%s); last lines of %s:\n%s", nodeName, state, n.kubelet.log, lastLines(n.kubelet.log, 20))
		case <-time.After(100 * time.Millisecond):
		}
		got, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		for _, c := range got.Status.Conditions {
			if c.Type == corev1.NodeReady {
				state = fmt.Sprintf("Ready=%s: %s", c.Status, c.Message)
				if c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
	}
}

// stop takes the node down so that nothing is left running: kube-proxy and kubelet first
// (so nothing restarts pods), then every pod sandbox through the CRI (containers die, CNI
// releases addresses, network namespaces are unmounted), then containerd.
func (n *node) stop() {
	n.kubeProxy.stop(10 * time.Second)
	n.kubelet.stop(15 * time.Second)
	if n.containerd != nil {
		select {
		case <-n.containerd.done:
		default:
			if err := removeSandboxes(containerdSocket(filepath.Join(n.dir, "containerd"))); err != nil {
				logf("removing pod sandboxes: %v", err)
			}
		}
	}
	n.containerd.stop(10 * time.Second)
}

// importImage loads an image archive into the namespace the CRI uses, where kubelet finds it.
func importImage(socket, archive string) error {
	out, err := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("importing %s: %v: %s", archive, err, out)
	}
	return nil
}
