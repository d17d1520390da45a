import BackupKit
import Crypto
import Foundation
import Logging

/// One S3 client over libcurl's SigV4 signing, shared by the `s3` sink and the `s3-bucket` source. No AWS
/// SDK. Every request is retried on transient failures (5xx, 429, timeouts, resets) per its
/// ``RetryPolicy``; downloads resume with a `Range` request where they stopped. Its methods block: async
/// callers use the `async` variants, which run them on a dedicated thread. Requests go through an
/// ``HTTPTransport``: libcurl, or a scripted one in tests.
package struct S3Client: Sendable {
    package let settings: S3Settings
    let credentials: S3Credentials
    /// Names the component in messages: `s3 sink 'offsite'`.
    package let component: String
    let logger: Logger
    let transport: any HTTPTransport
    /// Attempts per request and the waits between them; `max_attempts` from the settings by default.
    let retry: RetryPolicy

    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    package init(settings: S3Settings, environment: [String: String] = ProcessInfo.processInfo.environment, component: String,
                 logger: Logger = Logger(label: "backupkit.s3"), transport: (any HTTPTransport)? = nil, retry: RetryPolicy? = nil) throws {
        self.settings = settings
        self.component = component
        self.logger = logger
        self.transport = transport ?? CurlHTTPTransport(caFile: settings.caFile, stallTimeout: settings.stallTimeout)
        self.retry = retry ?? RetryPolicy(maxAttempts: settings.maxAttempts)
        credentials = try S3Credentials.resolve(settings, environment: environment, component: component)
    }

    // MARK: Requests

    typealias Body = HTTPRequest.Body

    struct Request: Sendable {
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [String] = []
        var payloadHash: String = S3Client.emptyPayloadHash
        var body: Body = .none
    }

    /// The object key for a name under the configured prefix.
    package func objectKey(_ name: String) -> String { settings.prefix + name }

    func url(for key: String?, query: [(String, String)]) -> String {
        let path = key.map { "/" + S3Client.encodePath($0) } ?? "/"
        var base: String
        if settings.pathStyle {
            base = settings.endpoint + "/" + settings.bucket + (key == nil ? "" : path)
        } else {
            var components = URLComponents(string: settings.endpoint)!
            components.host = settings.bucket + "." + (components.host ?? "")
            base = components.string!.trimmingSuffix("/") + path
        }
        if !query.isEmpty {
            base += "?" + query.sorted { $0.0 < $1.0 }.map { Self.encodeComponent($0.0) + "=" + Self.encodeComponent($0.1) }.joined(separator: "&")
        }
        return base
    }

    /// Performs one request (no retries). `onData` receives a successful response's body; other bodies
    /// are collected for their error message.
    func perform(_ request: Request, rangeStart: Int64? = nil, ifMatch: String? = nil, onHeaders: ((Int, [String: String]) throws -> Void)? = nil,
                 onData: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        var headers = ["x-amz-content-sha256: \(request.payloadHash)"]
        if let token = credentials.sessionToken { headers.append("x-amz-security-token: \(token)") }
        if let rangeStart { headers.append("Range: bytes=\(rangeStart)-") }
        if let ifMatch { headers.append("If-Match: \"\(ifMatch)\"") }
        let signing = HTTPRequest.SigV4(region: settings.region, accessKey: credentials.accessKey, secretKey: credentials.secretKey)
        let http = HTTPRequest(method: request.method, url: url(for: request.key, query: request.query), headers: headers + request.headers,
                               body: request.body, signing: signing)
        do {
            return try transport.send(http, onHeaders: onHeaders, onData: onData)
        } catch let error as BackupError where error.underlying is CurlFailure {
            // "cannot reach host:port": say which sink or source was reaching for it.
            throw BackupError(error.code, "\(component): \(error.message)", kind: error.kind, underlying: error.underlying)
        }
    }

    /// Performs a request with retries on transient failures, and turns error statuses into errors.
    func send(_ request: Request, what: String, accept: Set<Int> = [200, 204, 206], cancellation: CancellationFlag? = nil,
              onHeaders: ((Int, [String: String]) throws -> Void)? = nil,
              onData: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        try withRetries(what, cancellation: cancellation) { _ in
            if cancellation?.isSet == true { throw CancellationError() }
            let response = try perform(request, onHeaders: onHeaders, onData: onData)
            guard accept.contains(response.status) else { throw failure(response, what: what, key: request.key) }
            return response
        }
    }

    /// Runs `operation` under the retry policy, which logs each retry.
    func withRetries<T>(_ what: String, cancellation: CancellationFlag? = nil, _ operation: (Int) throws -> T) throws -> T {
        try retry.runBlocking("S3 request: \(what)", logger: logger, isCancelled: { cancellation?.isSet == true }, operation)
    }

    /// The error for an unexpected status, with S3's own code and message.
    func failure(_ response: HTTPResponse, what: String, key: String?) -> BackupError {
        let xml = S3XML.parseError(response.body)
        let code = xml.code ?? "HTTP \(response.status)"
        let detail = xml.message.map { "\(code): \($0)" } ?? code
        let prefix = "\(component): \(what) failed (\(detail))"
        switch response.status {
        case 404 where xml.code == "NoSuchBucket":
            return BackupError(.sinkFailed, "\(prefix): the bucket '\(settings.bucket)' does not exist at \(settings.endpoint). Create it, or fix 'bucket'.")
        case 404:
            return BackupError(.notFound, "\(prefix): \(key ?? "the object") does not exist")
        case 401, 403:
            return BackupError(.authenticationFailed, "\(prefix): access denied for bucket '\(settings.bucket)' at \(settings.endpoint). Check the access key and secret (access_key, secret_key_file, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket policy.")
        default:
            return BackupError(.sinkFailed, prefix, kind: response.isTransientFailure ? .transient : .permanent)
        }
    }

    // MARK: Objects

    package struct ObjectInfo: Sendable, Hashable {
        package var key: String
        package var size: Int64
        package var lastModified: Date?
        package var etag: String?

        package init(key: String, size: Int64, lastModified: Date? = nil, etag: String? = nil) {
            self.key = key
            self.size = size
            self.lastModified = lastModified
            self.etag = etag
        }
    }

    /// Lists every object under `prefix`, page by page (ListObjectsV2 with continuation tokens).
    package func list(prefix: String, pageSize: Int = 1000, page: ([ObjectInfo]) throws -> Void) throws {
        try list(prefix: prefix, delimiter: nil, pageSize: pageSize) { objects, _ in try page(objects) }
    }

    /// Lists one level under `prefix`: the objects directly there, and the common prefixes (`a/b/`)
    /// that stand for everything below them.
    package func listLevel(prefix: String) throws -> (objects: [ObjectInfo], prefixes: [String]) {
        var objects: [ObjectInfo] = [], prefixes: [String] = []
        try list(prefix: prefix, delimiter: "/", pageSize: 1000) { objects += $0; prefixes += $1 }
        return (objects, prefixes)
    }

    private func list(prefix: String, delimiter: String?, pageSize: Int, page: ([ObjectInfo], [String]) throws -> Void) throws {
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(pageSize))]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let response = try send(Request(method: "GET", key: nil, query: query), what: "listing \(settings.bucket)/\(prefix)")
            let result = try S3XML.parseList(response.body)
            try page(result.objects, result.prefixes)
            token = result.isTruncated ? result.nextToken : nil
            if result.isTruncated && token == nil {
                throw BackupError(.sinkFailed, "\(component): the listing of \(settings.bucket) is truncated but has no continuation token")
            }
        } while token != nil
    }

    /// Size, ETag and headers of an object, or nil when it does not exist.
    package func head(_ key: String) throws -> (size: Int64, etag: String?, headers: [String: String])? {
        do {
            let response = try send(Request(method: "HEAD", key: key), what: "reading the attributes of \(key)")
            let size = Int64(response.headers["content-length"] ?? "") ?? -1
            return (size, response.headers["etag"].map(Self.unquote), response.headers)
        } catch let error as BackupError where error.code == .notFound {
            return nil
        }
    }

    /// Streams an object's bytes to `onData`, resuming with a Range request after a transient failure.
    /// `onHeaders` is called once, before the first byte, with the size and the response headers.
    package func get(_ key: String, onHeaders: ((Int64, [String: String]) throws -> Void)? = nil,
                    onData: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var delivered: Int64 = 0
        var announced = false
        var etag: String?
        try withRetries("downloading \(key)") { _ in
            let start = delivered > 0 ? delivered : nil
            // Resume only the same version of the object: a changed object answers 412 and fails.
            let response = try perform(Request(method: "GET", key: key), rangeStart: start, ifMatch: start == nil ? nil : etag, onHeaders: { status, headers in
                guard (200..<300).contains(status), !announced else { return }
                announced = true
                etag = headers["etag"].map(Self.unquote)
                try onHeaders?(Int64(headers["content-length"] ?? "") ?? -1, headers)
            }, onData: { bytes in
                try onData(bytes)
                delivered += Int64(bytes.count)
            })
            if response.status == 412 {
                throw BackupError(.sinkFailed, "\(component): \(key) changed while it was downloaded; it cannot be resumed")
            }
            guard response.status == 200 || response.status == 206 else {
                throw failure(response, what: "downloading \(key)", key: key)
            }
            if start != nil && response.status != 206 {
                throw BackupError(.sinkFailed, "\(component): the server ignored the Range request while resuming \(key)")
            }
        }
    }

    /// Deletes an object; a missing one throws ``BackupError/Code/notFound`` (S3 itself says 204 either way).
    package func delete(_ key: String) throws {
        guard try head(key) != nil else { throw BackupError(.notFound, "\(component): \(key) does not exist") }
        _ = try send(Request(method: "DELETE", key: key), what: "deleting \(key)")
    }

    /// Whether the bucket exists (HEAD bucket).
    package func bucketExists() throws -> Bool {
        do {
            _ = try send(Request(method: "HEAD", key: nil), what: "checking the bucket \(settings.bucket)")
            return true
        } catch let error as BackupError where error.code == .notFound {
            return false
        }
    }

    package func createBucket() throws {
        var body: [UInt8] = []
        if settings.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(settings.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        _ = try send(Request(method: "PUT", key: nil, payloadHash: SHA256.hash(data: body).hexString, body: .bytes(body)), what: "creating the bucket \(settings.bucket)")
    }

    static func unquote(_ etag: String) -> String { etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }

    /// RFC 3986 encoding of a key, keeping its slashes, as SigV4's canonical URI wants.
    static func encodePath(_ key: String) -> String {
        key.split(separator: "/", omittingEmptySubsequences: false).map { encodeComponent(String($0)) }.joined(separator: "/")
    }

    static func encodeComponent(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

extension S3Client {
    package func list(prefix: String) async throws -> [ObjectInfo] {
        try await runBlocking {
            var all: [ObjectInfo] = []
            try list(prefix: prefix) { all += $0 }
            return all
        }
    }
}
