/* SPDX-License-Identifier: MIT */
/*
 * TLS for ringside: wolfSSL driven as a byte transformer for a
 * single-threaded io_uring loop, certificate stores, and server trust.
 *
 * A tls_conn never touches a file descriptor and never blocks.  The caller
 * receives ciphertext however it likes and hands it in with tls_conn_feed();
 * it gets ciphertext to send from tls_conn_out_take() and reports the send's
 * completion with tls_conn_out_done().  Plaintext is encrypted straight from
 * the caller's memory (a transcript shared by every client) into the
 * connection's outbox; no per-connection plaintext copy exists.
 *
 * Ownership of the outbox: between tls_conn_out_take() and
 * tls_conn_out_done() the bytes handed out belong to the kernel.  Nothing in
 * this module writes, moves, resizes or frees them in that window: every
 * call that would encrypt application data returns -EBUSY, and
 * tls_conn_free() is deferred until tls_conn_out_done().  The only output
 * that may be produced while lent is a small control record (an alert, a
 * TLS 1.3 KeyUpdate answer, a handshake flight), and it is appended after
 * the lent bytes inside an allocation that never moves while lent.
 *
 * Memory: the inbox (TLS_INBOX_CAP) exists only while undelivered
 * ciphertext does, the outbox only while unsent ciphertext does or while it
 * is lent, and it is sized to what it holds plus TLS_OUT_RESERVE (at most
 * TLS_OUTBOX_CAP): a 1 KiB record costs about 1.5 KiB while in flight.  An idle established connection holds only its
 * wolfSSL session.  wolfSSL's own record buffers are likewise allocated for
 * one record at a time and released after it.
 *
 * Time: nothing here keeps time.  The caller bounds how long a handshake
 * may take (a stalled peer costs one idle session until then); garbage ends
 * the handshake at the first bad record, so CPU per connection is bounded
 * by one handshake's public-key work.
 *
 * Errors are 0 or -errno.  The only process-wide state is wolfSSL_Init(),
 * run once by the first tls_*_config_new() (wolfSSL is never cleaned up:
 * other configs may still be alive).  Not thread-safe: one loop owns all.
 */
#ifndef RINGSIDE_TLS_H
#define RINGSIDE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest plaintext in one TLS record (RFC 8446 5.1, RFC 5246 6.2.1). */
#define TLS_RECORD_PLAIN_MAX	16384u
/* Bytes an AEAD record adds to its plaintext, rounded up: at most 29 for
 * TLS 1.2 GCM (header, explicit nonce, tag), 22 for TLS 1.3. */
#define TLS_RECORD_OVERHEAD	64u
/* Outbox room kept for control records (alerts, KeyUpdate answers). */
#define TLS_OUT_RESERVE		512u
/* The outbox: one full application record plus the control reserve. */
#define TLS_OUTBOX_CAP	(TLS_RECORD_PLAIN_MAX + TLS_RECORD_OVERHEAD + TLS_OUT_RESERVE)
/* The inbox: the largest record TLS 1.2 allows on the wire (2^14 + 2048
 * ciphertext plus the 5-byte header); TLS 1.3 records are smaller. */
#define TLS_INBOX_CAP		(5u + TLS_RECORD_PLAIN_MAX + 2048u)

#define TLS_SHA1_LEN	20
#define TLS_SHA256_LEN	32
/* "sha256:" and 64 lowercase hex digits, NUL-terminated. */
#define TLS_FP_STR_LEN	(7 + 2 * TLS_SHA256_LEN + 1)

/* ---- policy --------------------------------------------------------- */

/*
 * Checks a WinDbg proto= value.  "tls1" (any case) means TLS 1.2 or 1.3
 * with AEAD suites only and returns 0.  "pct1", "ssl2" and "ssl3" return
 * -EPROTONOSUPPORT with ERR saying why they are refused (obsolete or
 * broken); anything else -EINVAL.  ERR is always NUL-terminated when
 * ERRLEN > 0 and left empty on success.
 */
int tls_proto_check(const char *proto, char *err, size_t errlen);

struct tls_config;

/*
 * A server policy: CERT_PATH is a PEM certificate (optionally followed by
 * its chain), KEY_PATH its PEM private key; the key must match.  TLS 1.2
 * minimum, TLS 1.3 preferred, AEAD suites only (ECDHE with AES-GCM or
 * ChaCha20-Poly1305 for 1.2), no session tickets or cache, no client
 * certificates.  On success *CFG holds one reference.  Errors: -ENOENT,
 * -EACCES (unreadable), -EINVAL (not a certificate/key, or they do not
 * match), -ENOMEM; ERR names the file and the reason.
 */
int tls_server_config_new(const char *cert_path, const char *key_path,
			  struct tls_config **cfg, char *err, size_t errlen);

/*
 * A client policy.  With PIN_CERT_PATH (a PEM certificate, from the
 * client's own store: the public half is enough) the client accepts only a
 * server whose certificate is exactly that one, byte for byte; the chain,
 * names and dates the server sends are not consulted, the server still
 * proves it holds the key.  With PIN_CERT_PATH NULL the client is in
 * fingerprint mode: the handshake completes, but the connection stays
 * unverified (read and write return -EACCES) until the caller vouches for
 * the SHA-256 fingerprint with tls_conn_trust() — after a known_servers
 * match or the user's explicit consent.  There is no mode that accepts an
 * unverified server.  Same versions and suites as the server.  Errors as
 * tls_server_config_new().
 */
int tls_client_config_new(const char *pin_cert_path, struct tls_config **cfg,
			  char *err, size_t errlen);

/* Drops one reference; the policy goes when its last connection has. */
void tls_config_put(struct tls_config *cfg);

/* ---- connections ------------------------------------------------------ */

struct tls_conn;

/*
 * A connection following CFG's side (server or client).  Takes a reference
 * on CFG.  Nothing is allocated for buffers yet.  A client conn has its
 * ClientHello ready after the first tls_conn_handshake().  -ENOMEM.
 */
int tls_conn_new(struct tls_config *cfg, struct tls_conn **conn);

/* tls_conn_free() return values. */
#define TLS_FREED		0
#define TLS_FREE_DEFERRED	1

/*
 * Frees CONN.  While the outbox is lent the free is deferred: the session
 * is dropped now, the outbox stays with the kernel, and the caller's
 * tls_conn_out_done() (which it owes the completion anyway) finishes the
 * job; in between, tls_conn_out_done() is the only call allowed on CONN.
 * Returns TLS_FREED or TLS_FREE_DEFERRED.  NULL is TLS_FREED.
 */
int tls_conn_free(struct tls_conn *conn);

/*
 * Hands in N bytes of ciphertext received from the peer (copied: P is the
 * caller's again on return).  Returns how many bytes were taken, which is
 * less than N when the inbox (TLS_INBOX_CAP) fills up: then stop receiving,
 * call tls_conn_handshake()/tls_conn_read() to drain it, and feed the rest.
 * -ENOBUFS if no byte fit, the conn's error if it has failed, -ENOMEM.
 */
ssize_t tls_conn_feed(struct tls_conn *conn, const void *p, size_t n);

/*
 * Drives the handshake with what has been fed.  0: done (the peer facts
 * are available; a fingerprint-mode client still needs tls_conn_trust()).
 * -EAGAIN: not yet; send what tls_conn_out_take() gives, feed more, call
 * again.  Failure (the conn stays failed, every later call returns the same
 * code, tls_conn_error() says why; an alert may wait in the outbox, and
 * sending it is optional): -EACCES the server is not the pinned one,
 * -EPROTONOSUPPORT no common version or suite, -EPROTO anything else the
 * peer did wrong, -ENOMEM.
 */
int tls_conn_handshake(struct tls_conn *conn);

/* True once tls_conn_handshake() has returned 0. */
bool tls_conn_established(const struct tls_conn *conn);

/*
 * Decrypts up to CAP bytes of application data into BUF.  Returns bytes,
 * or 0 when nothing is available now: more input is needed, or an answer
 * (e.g. to a KeyUpdate) waits for outbox room: send, then call again; also
 * call again whenever tls_conn_in_pending() says fed bytes remain.
 * -EPIPE: the peer sent close_notify (orderly end).  -ENOTCONN before the
 * handshake is done, -EACCES while a fingerprint-mode client has not
 * trusted the server, or the failure codes of tls_conn_handshake().
 */
ssize_t tls_conn_read(struct tls_conn *conn, void *buf, size_t cap);

/* Fed ciphertext not yet handed to wolfSSL (call read/handshake again). */
size_t tls_conn_in_pending(const struct tls_conn *conn);

/*
 * Encrypts plaintext straight from P into the outbox as one record and
 * returns the number of bytes of P consumed: at most TLS_RECORD_PLAIN_MAX
 * and at most what fits; call again with the rest.  P is read during the
 * call only; it is never copied to a plaintext buffer.  -EBUSY: the outbox
 * is lent (wait for its completion, tls_conn_out_done(), then retry).
 * -EAGAIN: the outbox is full (take it and send it first).  -ENOTCONN
 * before the handshake, -EACCES unverified server, -EPIPE after
 * tls_conn_close_notify(), or the conn's failure code.  N == 0 returns 0.
 */
ssize_t tls_conn_write(struct tls_conn *conn, const void *p, size_t n);

/*
 * Sends close_notify (queued in the outbox; take and send it, then close
 * the socket).  Later writes return -EPIPE.  -EBUSY while lent, -EAGAIN if
 * the outbox has no room, -ENOTCONN before the handshake.  Calling it
 * twice is harmless.
 */
int tls_conn_close_notify(struct tls_conn *conn);

/* Bytes in the outbox (lent or not). */
size_t tls_conn_out_pending(const struct tls_conn *conn);

/*
 * Lends the outbox to the caller (for the kernel): *P and *LEN describe
 * every byte queued so far.  Until tls_conn_out_done(), those bytes are
 * not written, moved or freed by this module, and application writes
 * return -EBUSY.  -ENODATA if there is nothing to send, -EBUSY if already
 * lent.  Works on a failed conn (to send its alert).
 */
int tls_conn_out_take(struct tls_conn *conn, const void **p, size_t *len);

/*
 * Ends the loan: SENT bytes from its start went out (0 <= SENT <= the
 * lent length; the kernel may send less than asked).  The rest stays
 * queued for the next take.  When the outbox becomes empty it is freed.
 * If tls_conn_free() was deferred, this frees CONN and returns
 * TLS_FREE_DEFERRED (CONN is gone); otherwise 0.  -EINVAL if not lent or
 * SENT is too large (the loan then stays).
 */
int tls_conn_out_done(struct tls_conn *conn, size_t sent);

/* Why the conn failed, or "" if it has not. */
const char *tls_conn_error(const struct tls_conn *conn);

struct tls_peer_info {
	const char *version;	/* "TLSv1.3", "TLSv1.2" (static strings) */
	const char *cipher;	/* e.g. "TLS13-AES128-GCM-SHA256" */
	bool has_cert;		/* the peer sent a certificate */
	bool verified;		/* client: pinned, or trusted by the caller */
	uint8_t sha256[TLS_SHA256_LEN];	/* of the peer certificate's DER */
};

/* The negotiated facts.  -ENOTCONN before the handshake is done. */
int tls_conn_peer(const struct tls_conn *conn, struct tls_peer_info *info);

/*
 * Fingerprint-mode client: the caller vouches that SHA256 (from
 * known_servers or the user's consent to the fingerprint shown) is the
 * server's.  0 if it is the certificate the server proved it owns; else the
 * conn fails with -EACCES.  -ENOTCONN before the handshake, -EINVAL on a
 * server conn.  Harmless on an already verified conn with the right value.
 */
int tls_conn_trust(struct tls_conn *conn, const uint8_t sha256[TLS_SHA256_LEN]);

/* ---- certificate stores ------------------------------------------------ */

enum tls_store {
	TLS_STORE_USER,		/* $HOME/.config/ringside/certs/  (certuser=) */
	TLS_STORE_MACHINE,	/* /etc/ringside/certs/            (machuser=) */
};

/* The store's directory with a trailing '/'.  -ENOENT without $HOME
 * (user store), -ENAMETOOLONG. */
int tls_store_dir(enum tls_store which, char *buf, size_t len);

struct tls_cert_found {
	char crt[4096];		/* the certificate file */
	char key[4096];		/* NAME.key next to it ("" unless NEED_KEY) */
	uint8_t sha1[TLS_SHA1_LEN];	/* the WinDbg-style thumbprint */
	uint8_t sha256[TLS_SHA256_LEN];
	char warning[4096 + 128];	/* e.g. key readable by others; "" if none */
};

/*
 * Finds certificate NAME in store WHICH.  NAME is a file stem (NAME.crt,
 * plus NAME.key when NEED_KEY: servers need it, clients do not) or a SHA-1
 * thumbprint: 40 hex digits, spaces and case ignored, matched against every
 * *.crt in the store (the stem is tried first).  The certificate must be
 * valid now and, when it has an extended key usage, allow serverAuth.  A
 * key readable by group or others is not an error: FOUND->warning says so.
 * Errors, with ERR naming every path searched: -ENOENT not found (also a
 * missing key), -EINVAL NAME has '/' or is empty, -EKEYEXPIRED outside its
 * validity, -EPERM no serverAuth, -EBADMSG not a PEM certificate.
 */
int tls_store_find(enum tls_store which, const char *name, bool need_key,
		   struct tls_cert_found *found, char *err, size_t errlen);

/* Same, in directory DIR (with or without a trailing '/'); for tests and
 * tools. */
int tls_store_find_in(const char *dir, const char *name, bool need_key,
		      struct tls_cert_found *found, char *err, size_t errlen);

/* ---- trust on first use: known_servers --------------------------------- */

/*
 * ~/.config/ringside/known_servers holds one server per line:
 *
 *	HOST:PORT sha256:HEX
 *
 * HOST:PORT exactly as the user named the server (compared ignoring case),
 * HEX the 64 lowercase hex digits of the SHA-256 of the server
 * certificate's DER.  Blank lines and lines starting with '#' are
 * ignored, and so are malformed ones.  A server may have several lines (a
 * planned certificate change); any match counts.  Nothing here removes a
 * line: a changed server is fixed by editing the file, deliberately.
 *
 * Policy for the caller: MATCH → tls_conn_trust(); UNKNOWN → show the
 * fingerprint and ask; in scripted mode refuse (never trust silently);
 * CHANGED → refuse loudly, showing both fingerprints and the line.
 */
enum tls_known_state {
	TLS_KNOWN_UNKNOWN,
	TLS_KNOWN_MATCH,
	TLS_KNOWN_CHANGED,
};

struct tls_known_result {
	enum tls_known_state state;
	uint8_t old_sha256[TLS_SHA256_LEN];	/* CHANGED: the remembered one */
	unsigned line;				/* CHANGED/MATCH: its line number */
};

/* $HOME/.config/ringside/known_servers.  -ENOENT without $HOME. */
int tls_known_path(char *buf, size_t len);

/* Looks HOST_PORT up.  A missing file is UNKNOWN.  -EINVAL for a
 * HOST_PORT with whitespace or empty, -errno for an unreadable file. */
int tls_known_check(const char *path, const char *host_port,
		    const uint8_t sha256[TLS_SHA256_LEN],
		    struct tls_known_result *res);

/* Appends a line atomically: the old content plus the line go to a
 * temporary file (mode 0600) in the same directory, which is renamed over
 * PATH.  Creates the directory (0700) if missing.  -EINVAL, -errno. */
int tls_known_add(const char *path, const char *host_port,
		  const uint8_t sha256[TLS_SHA256_LEN]);

/* "sha256:" + 64 lowercase hex digits into OUT. */
void tls_fp_format(const uint8_t sha256[TLS_SHA256_LEN], char out[TLS_FP_STR_LEN]);

/* Parses "sha256:HEX" or bare HEX (case, ':' and spaces ignored).
 * -EINVAL unless exactly 32 bytes. */
int tls_fp_parse(const char *s, uint8_t sha256[TLS_SHA256_LEN]);

#endif
