package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LoadOrCreateCertificate loads the PEM certificate and key from certFile and keyFile.
// When neither file exists it creates a self-signed ECDSA P-256 certificate for hosts
// (names or IP addresses; default "localhost"), valid for ten years, and writes both
// files with mode 0600 (their directory 0700 if it has to be made). created reports
// whether the certificate is new.
func LoadOrCreateCertificate(certFile, keyFile string, hosts []string) (cert tls.Certificate, created bool, err error) {
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		return cert, false, nil
	}
	_, e1 := os.Stat(certFile)
	_, e2 := os.Stat(keyFile)
	if !errors.Is(e1, fs.ErrNotExist) || !errors.Is(e2, fs.ErrNotExist) {
		return tls.Certificate{}, false, fmt.Errorf("relay: loading certificate: %w", err)
	}
	certPEM, keyPEM, err := selfSigned(hosts)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{keyFile, keyPEM}, {certFile, certPEM}} {
		if err := os.MkdirAll(filepath.Dir(f.name), 0o700); err != nil {
			return tls.Certificate{}, false, err
		}
		if err := os.WriteFile(f.name, f.data, 0o600); err != nil {
			return tls.Certificate{}, false, err
		}
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return cert, true, err
}

func selfSigned(hosts []string) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// Fingerprint returns the SHA-256 fingerprint of cert's leaf certificate as
// colon-separated upper-case hex, the form clients show when asked to trust it.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	h := make([]string, len(sum))
	for i, b := range sum {
		h[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(h, ":")
}
