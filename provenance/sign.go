package provenance

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"
)

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// BundleMediaType is the media type of the bundles [Signer] makes.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Bundle is a Sigstore bundle (sigstore-go's type).
type Bundle = bundle.Bundle

// Timestamper gets an RFC 3161 timestamp over a signature from a timestamp
// authority. *sign.TimestampAuthority (sigstore-go's client, what
// [WithTimestampAuthority] builds) is one.
type Timestamper interface {
	GetTimestamp(ctx context.Context, signature []byte) ([]byte, error)
}

// Signer signs in-toto statements into DSSE envelopes inside Sigstore
// bundles. It is safe for concurrent use.
//
// With only a key it signs offline: the bundle names the public key by its
// hint, and verifiers need that public key. With a certificate provider
// (Fulcio) it signs keyless: the bundle carries the short-lived certificate
// and, when configured, transparency-log entries (Rekor) and RFC 3161
// timestamps.
type Signer struct {
	kp        *keypair
	certs     sign.CertificateProvider
	certOpts  *sign.CertificateProviderOptions
	tlogs     []sign.Transparency
	tsas      []Timestamper
	generated bool
	log       *slog.Logger
}

// SignerOption configures a [Signer].
type SignerOption func(*signerOptions) error

type signerOptions struct {
	key     crypto.Signer
	keyFile string
	certs   sign.CertificateProvider
	token   string
	tlogs   []sign.Transparency
	tsas    []Timestamper
	timeout time.Duration
	log     *slog.Logger
}

// WithKey signs with k. Default: an ECDSA P-256 key generated for the
// Signer (see [Signer.Generated] and [Signer.PublicKey]).
func WithKey(k crypto.Signer) SignerOption {
	return func(o *signerOptions) error {
		if k == nil {
			return fmt.Errorf("%w: nil key", ErrOption)
		}
		if _, err := keyAlgorithm(k.Public()); err != nil {
			return err
		}
		o.key = k
		return nil
	}
}

// WithKeyFile signs with the private key in a PEM file (read by
// [NewSigner]).
func WithKeyFile(path string) SignerOption {
	return func(o *signerOptions) error {
		if path == "" {
			return fmt.Errorf("%w: empty key file name", ErrOption)
		}
		o.keyFile = path
		return nil
	}
}

// WithFulcio signs keyless: the Fulcio instance at baseURL issues a
// certificate for the signing key in exchange for the OIDC identity token.
func WithFulcio(baseURL, idToken string) SignerOption {
	return func(o *signerOptions) error {
		if err := absoluteURI("Fulcio URL", baseURL); err != nil {
			return err
		}
		if idToken == "" {
			return fmt.Errorf("%w: Fulcio needs an OIDC identity token", ErrOption)
		}
		o.certs = sign.NewFulcio(&sign.FulcioOptions{BaseURL: baseURL, Timeout: o.timeout})
		o.token = idToken
		return nil
	}
}

// WithCertificateProvider signs keyless with certificates from p (a Fulcio
// client of your own, or a test certificate authority).
func WithCertificateProvider(p sign.CertificateProvider, idToken string) SignerOption {
	return func(o *signerOptions) error {
		if p == nil {
			return fmt.Errorf("%w: nil certificate provider", ErrOption)
		}
		o.certs, o.token = p, idToken
		return nil
	}
}

// WithRekor records each signature in the Rekor transparency log at baseURL.
func WithRekor(baseURL string) SignerOption {
	return func(o *signerOptions) error {
		if err := absoluteURI("Rekor URL", baseURL); err != nil {
			return err
		}
		o.tlogs = append(o.tlogs, sign.NewRekor(&sign.RekorOptions{BaseURL: baseURL, Timeout: o.timeout}))
		return nil
	}
}

// WithTransparencyLog records each signature in the log t.
func WithTransparencyLog(t sign.Transparency) SignerOption {
	return func(o *signerOptions) error {
		if t == nil {
			return fmt.Errorf("%w: nil transparency log", ErrOption)
		}
		o.tlogs = append(o.tlogs, t)
		return nil
	}
}

// WithTimestampAuthority timestamps each signature at the RFC 3161 timestamp
// authority whose endpoint is url.
func WithTimestampAuthority(url string) SignerOption {
	return func(o *signerOptions) error {
		if err := absoluteURI("timestamp authority URL", url); err != nil {
			return err
		}
		o.tsas = append(o.tsas, sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: url, Timeout: o.timeout}))
		return nil
	}
}

// WithTimestamper timestamps each signature with t.
func WithTimestamper(t Timestamper) SignerOption {
	return func(o *signerOptions) error {
		if t == nil {
			return fmt.Errorf("%w: nil timestamper", ErrOption)
		}
		o.tsas = append(o.tsas, t)
		return nil
	}
}

// WithServiceTimeout bounds each request to Fulcio, Rekor and timestamp
// authorities configured by the options after it. Default 30s.
func WithServiceTimeout(d time.Duration) SignerOption {
	return func(o *signerOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v", ErrOption, d)
		}
		o.timeout = d
		return nil
	}
}

// WithSignerLogger sets the logger; the default discards.
func WithSignerLogger(l *slog.Logger) SignerOption {
	return func(o *signerOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.log = l
		return nil
	}
}

// NewSigner returns a Signer. Without a key option it generates an ECDSA
// P-256 key.
func NewSigner(opts ...SignerOption) (*Signer, error) {
	o := &signerOptions{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	s := &Signer{certs: o.certs, tlogs: o.tlogs, tsas: o.tsas, log: o.log}
	key := o.key
	switch {
	case key != nil && o.keyFile != "":
		return nil, fmt.Errorf("%w: WithKey and WithKeyFile both given", ErrOption)
	case o.keyFile != "":
		k, err := ReadPrivateKeyFile(o.keyFile)
		if err != nil {
			return nil, err
		}
		key = k
	case key == nil:
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		key, s.generated = k, true
	}
	kp, err := newKeypair(key)
	if err != nil {
		return nil, err
	}
	s.kp = kp
	if o.certs != nil {
		s.certOpts = &sign.CertificateProviderOptions{IDToken: o.token}
	}
	return s, nil
}

// PublicKey returns the public half of the signing key.
func (s *Signer) PublicKey() crypto.PublicKey { return s.kp.priv.Public() }

// PrivateKey returns the signing key, for a caller that wants to keep a
// generated key.
func (s *Signer) PrivateKey() crypto.Signer { return s.kp.priv }

// Generated reports whether the key was generated by NewSigner.
func (s *Signer) Generated() bool { return s.generated }

// Keyless reports whether the Signer gets certificates for its key.
func (s *Signer) Keyless() bool { return s.certs != nil }

// Sign signs st as a DSSE envelope (payload type [InTotoPayloadType], the
// stable JSON of [MarshalStatement]) in a Sigstore bundle.
func (s *Signer) Sign(ctx context.Context, st *Statement) (*Bundle, error) {
	payload, err := MarshalStatement(st)
	if err != nil {
		return nil, err
	}
	return s.SignPayload(ctx, InTotoPayloadType, payload)
}

// SignPayload signs payload of the given DSSE payload type.
func (s *Signer) SignPayload(ctx context.Context, payloadType string, payload []byte) (*Bundle, error) {
	opts := sign.BundleOptions{
		CertificateProvider:        s.certs,
		CertificateProviderOptions: s.certOpts,
		TransparencyLogs:           s.tlogs,
		Context:                    ctx,
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: payload, PayloadType: payloadType}, s.kp, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSign, err)
	}
	if len(s.tsas) > 0 {
		sigs := pb.GetDsseEnvelope().GetSignatures()
		if len(sigs) != 1 {
			return nil, fmt.Errorf("%w: envelope has %d signatures", ErrSign, len(sigs))
		}
		for i, t := range s.tsas {
			ts, err := t.GetTimestamp(ctx, sigs[0].GetSig())
			if err != nil {
				return nil, fmt.Errorf("%w: timestamp authority %d: %v", ErrSign, i, err)
			}
			vm := pb.GetVerificationMaterial()
			if vm.TimestampVerificationData == nil {
				vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
			}
			vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps,
				&protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
		}
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSign, err)
	}
	s.log.Debug("signed", "payload_type", payloadType, "bytes", len(payload), "keyless", s.Keyless(),
		"tlog_entries", len(pb.GetVerificationMaterial().GetTlogEntries()), "timestamps", len(s.tsas))
	return b, nil
}

// MarshalBundle returns the JSON of a bundle, as cosign and sigstore-go read
// it.
func MarshalBundle(b *Bundle) ([]byte, error) {
	out, err := b.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", ErrInput, err)
	}
	return out, nil
}

// ParseBundle decodes and validates a Sigstore bundle of at most
// [MaxDocumentSize] bytes.
func ParseBundle(b []byte) (*Bundle, error) {
	if len(b) > maxDocumentSize {
		return nil, &DocumentError{Kind: "bundle", Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxDocumentSize)}
	}
	var out Bundle
	if err := out.UnmarshalJSON(b); err != nil {
		return nil, malformed("bundle", "", "%v", err)
	}
	if out.Bundle == nil || out.GetDsseEnvelope() == nil {
		return nil, malformed("bundle", "", "no DSSE envelope")
	}
	return &out, nil
}
