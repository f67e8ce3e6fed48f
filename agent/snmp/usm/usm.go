// Package usm turns SNMPv3 user settings as written in schulmon's
// configuration (protocol names and passphrases) into gosnmp's
// user-based security model parameters. The poller, the trap receiver and
// discovery share it so that all three accept exactly the same names.
package usm

import (
	"fmt"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// User is one SNMPv3 user.
type User struct {
	// Name is the USM user name (securityName).
	Name string `yaml:"user"`
	// AuthProtocol is one of MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512;
	// empty means no authentication (noAuthNoPriv).
	AuthProtocol string `yaml:"auth_protocol"`
	// AuthPassword is the authentication passphrase (at least 8 characters).
	AuthPassword string `yaml:"auth_password"`
	// PrivProtocol is one of DES, AES (AES-128), AES-192, AES-256, and the
	// Cisco/Reeder key-extension variants AES-192-C, AES-256-C; empty means
	// no privacy (authNoPriv).
	PrivProtocol string `yaml:"priv_protocol"`
	// PrivPassword is the privacy passphrase (at least 8 characters).
	PrivPassword string `yaml:"priv_password"`
	// EngineID is the authoritative engine ID in hex, only needed to
	// receive v3 traps from a sender whose engine ID must be known in
	// advance; the poller discovers engine IDs itself.
	EngineID string `yaml:"engine_id"`
}

var authNames = map[string]gosnmp.SnmpV3AuthProtocol{
	"": gosnmp.NoAuth, "NONE": gosnmp.NoAuth, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA1": gosnmp.SHA,
	"SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privNames = map[string]gosnmp.SnmpV3PrivProtocol{
	"": gosnmp.NoPriv, "NONE": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES, "AES128": gosnmp.AES,
	"AES192": gosnmp.AES192, "AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

func norm(s string) string {
	return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToUpper(strings.TrimSpace(s)))
}

// ParseAuth maps an authentication protocol name ("SHA-256", "sha256", …).
func ParseAuth(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	if p, ok := authNames[norm(s)]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("unknown SNMPv3 auth protocol %q (use MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512)", s)
}

// ParsePriv maps a privacy protocol name ("AES", "AES-256", "DES", …).
func ParsePriv(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	if p, ok := privNames[norm(s)]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("unknown SNMPv3 privacy protocol %q (use DES, AES, AES-192, AES-256, AES-192-C or AES-256-C)", s)
}

// Validate checks the user and says what to fix.
func (u User) Validate() error {
	if u.Name == "" {
		return fmt.Errorf("SNMPv3 needs a user name (user:)")
	}
	auth, err := ParseAuth(u.AuthProtocol)
	if err != nil {
		return err
	}
	priv, err := ParsePriv(u.PrivProtocol)
	if err != nil {
		return err
	}
	if auth == gosnmp.NoAuth && priv != gosnmp.NoPriv {
		return fmt.Errorf("SNMPv3 user %q: privacy (priv_protocol %s) needs authentication too (set auth_protocol)", u.Name, u.PrivProtocol)
	}
	if auth != gosnmp.NoAuth && len(u.AuthPassword) < 8 {
		return fmt.Errorf("SNMPv3 user %q: auth_password must have at least 8 characters", u.Name)
	}
	if priv != gosnmp.NoPriv && len(u.PrivPassword) < 8 {
		return fmt.Errorf("SNMPv3 user %q: priv_password must have at least 8 characters", u.Name)
	}
	return nil
}

// Params returns the message flags and security parameters for the user.
// Call Validate first; unknown names are treated as "none" here.
func (u User) Params() (gosnmp.SnmpV3MsgFlags, *gosnmp.UsmSecurityParameters) {
	auth, _ := ParseAuth(u.AuthProtocol)
	priv, _ := ParsePriv(u.PrivProtocol)
	flags := gosnmp.NoAuthNoPriv
	switch {
	case auth != gosnmp.NoAuth && priv != gosnmp.NoPriv:
		flags = gosnmp.AuthPriv
	case auth != gosnmp.NoAuth:
		flags = gosnmp.AuthNoPriv
	}
	sp := &gosnmp.UsmSecurityParameters{
		UserName:                 u.Name,
		AuthenticationProtocol:   auth,
		AuthenticationPassphrase: u.AuthPassword,
		PrivacyProtocol:          priv,
		PrivacyPassphrase:        u.PrivPassword,
	}
	if u.EngineID != "" {
		sp.AuthoritativeEngineID = decodeEngineID(u.EngineID)
	}
	return flags, sp
}

// decodeEngineID accepts "80000000…" or "0x80000000…"; anything that is
// not hex is used as the raw engine ID.
func decodeEngineID(s string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b := make([]byte, 0, len(h)/2)
	for i := 0; i+1 < len(h); i += 2 {
		var v byte
		for _, c := range h[i : i+2] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | byte(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | byte(c-'a'+10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | byte(c-'A'+10)
			default:
				return s
			}
		}
		b = append(b, v)
	}
	if len(h)%2 != 0 {
		return s
	}
	return string(b)
}
