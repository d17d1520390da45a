import CCurl
import Crypto
import Foundation
import Logging

/// One S3 client over libcurl's SigV4 signing, shared by the `s3` sink and the `s3-bucket` source. No AWS
/// SDK. Every request is retried on transient failures (5xx, 429, timeouts, resets) with exponential
/// backoff; downloads resume with a `Range` request where they stopped. Its methods block: async callers
/// use the `async` variants, which run them on a dedicated thread.
public struct S3Client: Sendable {
    public let settings: S3Settings
    let credentials: S3Credentials
    /// Names the component in messages: `s3 sink 'offsite'`.
    public let component: String
    let logger: Logger

    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(settings: S3Settings, environment: [String: String] = ProcessInfo.processInfo.environment, component: String,
                logger: Logger = Logger(label: "backupkit.s3")) throws {
        self.settings = settings
        self.component = component
        self.logger = logger
        credentials = try S3Credentials.resolve(settings, environment: environment, component: component)
    }

    // MARK: Requests

    enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// A range of a file, read as it is sent.
        case file(path: String, offset: Int64, length: Int64)
    }

    struct Request: Sendable {
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [String] = []
        var payloadHash: String = S3Client.emptyPayloadHash
        var body: Body = .none
    }

    /// The object key for a name under the configured prefix.
    public func objectKey(_ name: String) -> String { settings.prefix + name }

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
                 onData: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> CurlRequest.Response {
        let curl = try CurlRequest(url: url(for: request.key, query: request.query))
        try curl.set(CURLOPT_AWS_SIGV4, "aws:amz:\(settings.region):s3")
        try curl.set(CURLOPT_USERPWD, "\(credentials.accessKey):\(credentials.secretKey)")
        if let caFile = settings.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        curl.addHeader("x-amz-content-sha256: \(request.payloadHash)")
        if let token = credentials.sessionToken { curl.addHeader("x-amz-security-token: \(token)") }
        if let rangeStart { curl.addHeader("Range: bytes=\(rangeStart)-") }
        if let ifMatch { curl.addHeader("If-Match: \"\(ifMatch)\"") }
        for header in request.headers { curl.addHeader(header) }
        switch request.method {
        case "GET": break
        case "HEAD": try curl.set(CURLOPT_NOBODY, 1)
        case "PUT": try curl.set(CURLOPT_UPLOAD, 1)
        case "POST":
            try curl.set(CURLOPT_POST, 1)
        default: try curl.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        var reader: FileReader?
        switch request.body {
        case .none:
            if request.method == "PUT" { try curl.setBody([]) }
            if request.method == "POST" { try curl.setLarge(CURLOPT_POSTFIELDSIZE_LARGE, 0) }
        case .bytes(let bytes):
            try curl.setBody(bytes)
            if request.method == "POST" { try curl.setLarge(CURLOPT_POSTFIELDSIZE_LARGE, Int64(bytes.count)) }
        case .file(let path, let offset, let length):
            let file = try FileReader(path: path)
            reader = file
            var position = offset
            let end = offset + length
            try curl.setBody(length: length) { buffer in
                let want = Int(min(Int64(buffer.count), end - position))
                guard want > 0 else { return 0 }
                let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: position)
                guard count > 0 else { throw BackupError(.io, "\(path) ended early while it was uploaded") }
                position += Int64(count)
                return count
            }
        }
        if let onHeaders { curl.onHeaders(onHeaders) }
        if let onData { curl.onData(onData) }
        let response = try curl.perform()
        _ = reader
        return response
    }

    /// Performs a request with retries on transient failures, and turns error statuses into errors.
    func send(_ request: Request, what: String, accept: Set<Int> = [200, 204, 206], cancellation: CancellationFlag? = nil,
              onHeaders: ((Int, [String: String]) throws -> Void)? = nil,
              onData: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> CurlRequest.Response {
        try withRetries(what, cancellation: cancellation) { _ in
            if cancellation?.isSet == true { throw CancellationError() }
            let response = try perform(request, onHeaders: onHeaders, onData: onData)
            guard accept.contains(response.status) else { throw failure(response, what: what, key: request.key) }
            return response
        }
    }

    /// Runs `operation` up to `maxAttempts` times while it fails transiently, sleeping 0.5 s, 1 s, 2 s...
    /// (capped at 8 s, with jitter) between attempts.
    func withRetries<T>(_ what: String, cancellation: CancellationFlag? = nil, _ operation: (Int) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try operation(attempt)
            } catch let error as BackupError where error.kind == .transient && attempt < settings.maxAttempts && cancellation?.isSet != true {
                let delay = min(8, 0.5 * pow(2, Double(attempt - 1))) * Double.random(in: 0.8...1.2)
                logger.notice("retrying S3 request", metadata: ["what": "\(what)", "attempt": "\(attempt)", "error": "\(error.message)"])
                Thread.sleep(forTimeInterval: delay)
                attempt += 1
            }
        }
    }

    /// The error for an unexpected status, with S3's own code and message.
    func failure(_ response: CurlRequest.Response, what: String, key: String?) -> BackupError {
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
        case 408, 429, 500...599:
            return BackupError(.sinkFailed, prefix, kind: .transient)
        default:
            return BackupError(.sinkFailed, prefix)
        }
    }

    // MARK: Objects

    public struct ObjectInfo: Sendable, Hashable {
        public var key: String
        public var size: Int64
        public var lastModified: Date?
        public var etag: String?
    }

    /// Lists every object under `prefix`, page by page (ListObjectsV2 with continuation tokens).
    public func list(prefix: String, pageSize: Int = 1000, page: ([ObjectInfo]) throws -> Void) throws {
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(pageSize))]
            if let token { query.append(("continuation-token", token)) }
            let response = try send(Request(method: "GET", key: nil, query: query), what: "listing \(settings.bucket)/\(prefix)")
            let result = try S3XML.parseList(response.body)
            try page(result.objects)
            token = result.isTruncated ? result.nextToken : nil
            if result.isTruncated && token == nil {
                throw BackupError(.sinkFailed, "\(component): the listing of \(settings.bucket) is truncated but has no continuation token")
            }
        } while token != nil
    }

    /// Size, ETag and headers of an object, or nil when it does not exist.
    public func head(_ key: String) throws -> (size: Int64, etag: String?, headers: [String: String])? {
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
    public func get(_ key: String, onHeaders: ((Int64, [String: String]) throws -> Void)? = nil,
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
    public func delete(_ key: String) throws {
        guard try head(key) != nil else { throw BackupError(.notFound, "\(component): \(key) does not exist") }
        _ = try send(Request(method: "DELETE", key: key), what: "deleting \(key)")
    }

    /// Whether the bucket exists (HEAD bucket).
    public func bucketExists() throws -> Bool {
        do {
            _ = try send(Request(method: "HEAD", key: nil), what: "checking the bucket \(settings.bucket)")
            return true
        } catch let error as BackupError where error.code == .notFound {
            return false
        }
    }

    public func createBucket() throws {
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
    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await runBlocking {
            var all: [ObjectInfo] = []
            try list(prefix: prefix) { all += $0 }
            return all
        }
    }
}
