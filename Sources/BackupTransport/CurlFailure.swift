import BackupKit
import CCurl
import Foundation
import Glibc

/// A libcurl transfer that failed below the protocol (no answer, a broken connection, a refused
/// certificate), turned into a message that names the host and port and what to check, never curl's
/// own text alone ("Couldn't connect to server"). libcurl's code and text stay in this value, the
/// thrown ``BackupError``'s `underlying`, for callers that tell failures apart (the SFTP sink) and for
/// logs.
package struct CurlFailure: Error, CustomStringConvertible {
    /// libcurl's result code (`CURLE_*`).
    package var code: CURLcode
    /// libcurl's own text: its error buffer, else `curl_easy_strerror`.
    package var detail: String
    /// The system's `errno` for the failed connect, send or receive (`CURLINFO_OS_ERRNO`); 0 if none.
    package var systemErrno: Int32
    /// Whether a connection was made before it failed.
    package var connected: Bool
    /// The URL's scheme and `host:port`.
    package var scheme: String
    package var endpoint: String
    package var host: String

    package init(code: CURLcode, detail: String, systemErrno: Int32, connected: Bool, url: String) {
        self.code = code
        self.detail = detail
        self.systemErrno = systemErrno
        self.connected = connected
        let components = URLComponents(string: url)
        let scheme = components?.scheme?.lowercased() ?? "http"
        let host = components?.host ?? "the server"
        let port = components?.port ?? Self.defaultPorts[scheme]
        self.scheme = scheme
        self.host = host
        endpoint = port.map { "\(host):\($0)" } ?? host
    }

    package var description: String { "libcurl error \(code.rawValue) talking to \(endpoint): \(detail)" }

    static let defaultPorts = ["http": 80, "https": 443, "sftp": 22, "scp": 22, "smtp": 25, "smtps": 465]

    static let transientCodes: Set<CURLcode> = [
        CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
        CURLE_PARTIAL_FILE, CURLE_COULDNT_RESOLVE_HOST, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
    ]

    var isTransient: Bool { Self.transientCodes.contains(code) }

    /// What a person reads, and the code scripts act on: a server that cannot be reached is
    /// ``BackupError/Code/unreachable`` (exit 11); refused credentials ``BackupError/Code/authenticationFailed``.
    package var error: BackupError {
        let (errorCode, message) = explained
        return BackupError(errorCode, message, kind: isTransient ? .transient : .permanent, underlying: self)
    }

    private var isSSH: Bool { scheme == "sftp" || scheme == "scp" }

    private var explained: (BackupError.Code, String) {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST:
            return (.unreachable, "cannot resolve the host name '\(host)': check the host in the endpoint or URL for typos, and this machine's DNS")
        case CURLE_COULDNT_RESOLVE_PROXY:
            return (.unreachable, "cannot resolve the proxy's host name while connecting to \(endpoint): check http_proxy / https_proxy / all_proxy")
        case CURLE_COULDNT_CONNECT:
            return (.unreachable, "cannot reach \(endpoint) (\(connectFailure)): is the server running, and are the host and port in the endpoint or URL right? A firewall may also block the port")
        case CURLE_OPERATION_TIMEDOUT where !connected:
            return (.unreachable, "cannot reach \(endpoint) (no answer in time): is the host up, and are the host and port right? A firewall may drop the traffic")
        case CURLE_OPERATION_TIMEDOUT:
            return (.io, "\(endpoint) stopped answering in the middle of the transfer (timed out): the server or the network is stalled or overloaded; it is tried again")
        case CURLE_PEER_FAILED_VERIFICATION where isSSH:
            return (.sinkFailed, "the SSH host key of \(endpoint) is unknown or does not match known_hosts: verify the key and add it (ssh-keyscan)")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR:
            return (.io, "the TLS certificate of \(endpoint) is not trusted (\(certificateProblem)): if the server uses a private CA, point ca_file at that CA's certificate; check that the host name matches the certificate and that it has not expired")
        case CURLE_SSL_CONNECT_ERROR:
            return (.io, "the TLS handshake with \(endpoint) failed: is the port a TLS port? Use http:// (or smtp://) for a plain one, https:// (smtps://) for TLS")
        case CURLE_GOT_NOTHING:
            return (.io, "\(endpoint) closed the connection without answering: is it the right port, and the right protocol (http:// or https://)?")
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            return (.io, "the connection to \(endpoint) broke in the middle of the transfer\(systemReason): the server closed it or the network dropped it; it is tried again")
        case CURLE_LOGIN_DENIED:
            return (.authenticationFailed, "\(endpoint) refused the login: check the user name and the password or key")
        case CURLE_REMOTE_FILE_NOT_FOUND:
            return (.notFound, "\(endpoint): the remote file does not exist")
        case CURLE_REMOTE_ACCESS_DENIED:
            return (.io, "\(endpoint) denied access to the remote path: give the user write access there, or choose another directory")
        case CURLE_UNSUPPORTED_PROTOCOL:
            return (.invalidPlan, "'\(scheme)://' is not a protocol this build of libcurl supports (talking to \(endpoint)): check the URL's scheme")
        default:
            return (.io, "the transfer with \(endpoint) failed (libcurl error \(code.rawValue): \(detail))")
        }
    }

    private var connectFailure: String {
        switch systemErrno {
        case ECONNREFUSED: "connection refused"
        case EHOSTUNREACH, ENETUNREACH: "no route to the host"
        case ETIMEDOUT: "no answer in time"
        case 0: "no connection"
        default: String(cString: strerror(systemErrno)).lowercased()
        }
    }

    private var systemReason: String {
        systemErrno == 0 ? "" : " (\(String(cString: strerror(systemErrno)).lowercased()))"
    }

    /// OpenSSL's reason, such as "self-signed certificate" or "certificate has expired", from libcurl's text.
    private var certificateProblem: String {
        for marker in ["SSL certificate problem: ", "SSL: "] {
            if let range = detail.range(of: marker) { return String(detail[range.upperBound...]) }
        }
        return "it cannot be verified"
    }
}
