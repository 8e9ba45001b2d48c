package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes an admin kubeconfig with the credentials embedded, so it stays
// usable when copied elsewhere.
func writeKubeconfig(path, server string, p *pki) error {
	return writeKubeconfigFor(path, server, p.caCert, "admin", p.adminCert, p.adminKey)
}

// writeKubeconfigFor writes a kubeconfig for the client certificate certPath/keyPath.
func writeKubeconfigFor(path, server, caPath, user, certPath, keyPath string) error {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(certPath)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sluice-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["sluice-test"] = &clientcmdapi.Context{Cluster: "sluice-test", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "sluice-test"
	return clientcmd.WriteToFile(*cfg, path)
}

// waitReady polls /readyz, then waits for the default namespace and its ServiceAccount
// machinery to exist, so a test's first request never races the bootstrap.
func waitReady(ctx context.Context, kubeconfig string, apiDone <-chan error) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-apiDone:
			return fmt.Errorf("server exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			lastErr = fmt.Errorf("/readyz: %v: %s", err, body)
			continue
		}
		if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1GetOptions); err != nil {
			lastErr = err
			continue
		}
		return nil
	}
	return lastErr
}
