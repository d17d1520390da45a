import BackupKit
import CCurl

/// The production ``HTTPTransport``: each request is one libcurl transfer (``CurlRequest``), signed by
/// libcurl's own SigV4 when the request asks for it.
package struct CurlHTTPTransport: HTTPTransport {
    /// A CA bundle for a private certificate authority.
    package var caFile: String?
    /// Seconds a transfer may move less than 1 KiB/s before it fails as stalled (and can be retried).
    package var stallTimeout: Double

    package init(caFile: String? = nil, stallTimeout: Double = 60) {
        self.caFile = caFile
        self.stallTimeout = stallTimeout
    }

    package func send(_ request: HTTPRequest, onHeaders: ((Int, [String: String]) throws -> Void)?,
                      onData: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> HTTPResponse {
        let curl = try CurlRequest(url: request.url)
        if let signing = request.signing {
            try curl.set(CURLOPT_AWS_SIGV4, "aws:amz:\(signing.region):\(signing.service)")
            try curl.set(CURLOPT_USERPWD, "\(signing.accessKey):\(signing.secretKey)")
        }
        if let caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        try curl.set(CURLOPT_LOW_SPEED_TIME, max(1, Int(stallTimeout.rounded())))
        if let timeout = request.timeout { try curl.set(CURLOPT_TIMEOUT_MS, Int(timeout * 1000)) }
        for header in request.headers { curl.addHeader(header) }
        switch request.method {
        case "GET": break
        case "HEAD": try curl.set(CURLOPT_NOBODY, 1)
        case "PUT": try curl.set(CURLOPT_UPLOAD, 1)
        case "POST": try curl.set(CURLOPT_POST, 1)
        default: try curl.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        var reader: StagedFileReader?
        switch request.body {
        case .none:
            if request.method == "PUT" { try curl.setBody([]) }
        case .bytes(let bytes):
            try curl.setBody(bytes)
        case .file(let staged, let offset, let length):
            let path = staged.path
            let file = try staged.open()
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
        if request.method == "POST" { try curl.setLarge(CURLOPT_POSTFIELDSIZE_LARGE, request.body.length) }
        if let onHeaders { curl.onHeaders(onHeaders) }
        if let onData { curl.onData(onData) }
        return try withExtendedLifetime(reader) { _ in try curl.perform() }
    }
}
