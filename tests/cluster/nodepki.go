package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"time"
)

// nodePKI is what the node's components and the API server's calls to the kubelet
// authenticate with, all signed by the cluster CA.
type nodePKI struct {
	kubeletClientCert, kubeletClientKey       string // kubelet → API server, as system:node:NAME
	kubeletServingCert, kubeletServingKey     string // API server → kubelet (logs, exec), IP SAN = node IP
	apiserverKubeletCert, apiserverKubeletKey string
	kubeProxyCert, kubeProxyKey               string
}

func (p *pki) writeNodePKI(nodeName string, nodeIP net.IP) (*nodePKI, error) {
	n := &nodePKI{}
	var err error
	// The Node authorizer and NodeRestriction recognise a kubelet by this exact identity.
	if n.kubeletClientCert, n.kubeletClientKey, err = p.issue("kubelet-client", "system:node:"+nodeName, []string{"system:nodes"}, nil); err != nil {
		return nil, err
	}
	if n.kubeletServingCert, n.kubeletServingKey, err = p.issue("kubelet-serving", nodeName, nil, []net.IP{nodeIP, net.ParseIP("127.0.0.1")}); err != nil {
		return nil, err
	}
	// system:masters, so the kubelet's webhook authorization allows logs, exec and port-forward.
	if n.apiserverKubeletCert, n.apiserverKubeletKey, err = p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil); err != nil {
		return nil, err
	}
	// The bootstrap RBAC policy binds system:node-proxier to this user name.
	if n.kubeProxyCert, n.kubeProxyKey, err = p.issue("kube-proxy", "system:kube-proxy", nil, nil); err != nil {
		return nil, err
	}
	return n, nil
}

// issue signs a client certificate, or a serving one when ips are given.
func (p *pki) issue(file, cn string, orgs []string, ips []net.IP) (string, string, error) {
	p.serial++
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now,
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(ips) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = ips
		tmpl.DNSNames = []string{cn}
	}
	cert, key := filepath.Join(p.dir, file+".crt"), filepath.Join(p.dir, file+".key")
	return cert, key, signLeaf(tmpl, p.ca, p.caSign, cert, key)
}
