import BackupKit
import Crypto
import Foundation

extension S3Client {
    /// S3's smallest part other than the last.
    static let minimumPartSize: Int64 = 5 << 20
    /// The largest range one UploadPartCopy copies.
    static let maximumCopyPartSize: Int64 = 1 << 30

    /// Stores `key` as `head` and the bytes of `source` from `offset` to its end: a multipart upload
    /// whose first part is `head` with the first 5 MiB of that range (read with a ranged GET, as S3's
    /// parts but the last must be 5 MiB at least), and whose other parts the server copies from
    /// `source` itself (UploadPartCopy). What passes through this host is `head` and 5 MiB, whatever
    /// the size. A tail shorter than 5 MiB is read whole and the object stored in one PUT.
    package func splice(_ key: String, head: [UInt8], source: String, offset: Int64, sourceSize: Int64) throws {
        let rest = sourceSize - offset
        guard rest >= 0 else { throw BackupError(.sinkFailed, "\(component): \(source) is shorter than \(offset) bytes") }
        let lead = min(rest, Self.minimumPartSize)
        var first = head
        first += try range(source, from: offset, count: lead)
        if lead == rest {
            try put(first, as: key, what: "storing \(key)")
        } else {
            let uploadID = try createMultipartUpload(key, headers: uploadHeaders)
            do {
                let hashes = first.withUnsafeBytes(Self.hashes)
                try uploadPart(1, key: key, uploadID: uploadID, hashes: hashes, body: .bytes(first), cancellation: CancellationFlag())
                var etags = [hashes.md5Hex]
                var start = offset + lead
                var number = 2
                while start < sourceSize {
                    let end = min(sourceSize, start + Self.maximumCopyPartSize)
                    etags.append(try copyPart(number, key: key, uploadID: uploadID, source: source, range: start..<end))
                    start = end
                    number += 1
                }
                try completeMultipartUpload(key, uploadID: uploadID, etags: etags)
            } catch {
                abortMultipartUpload(key, uploadID: uploadID)
                throw error
            }
        }
        let expected = Int64(head.count) + rest
        guard let stored = try self.head(key), stored.size == expected else {
            throw BackupError(.sinkFailed, "\(component): after storing \(key), the server does not report \(expected) bytes")
        }
    }

    /// `count` bytes of `key` from `offset`, with a ranged GET.
    func range(_ key: String, from offset: Int64, count: Int64) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes: [UInt8] = []
        let response = try send(Request(method: "GET", key: key, headers: ["Range: bytes=\(offset)-\(offset + count - 1)"]), what: "reading \(key)",
                                accept: [206], onData: { bytes += $0 })
        _ = response
        guard Int64(bytes.count) == count else {
            throw BackupError(.sinkFailed, "\(component): a ranged read of \(key) gave \(bytes.count) bytes, not \(count)")
        }
        return bytes
    }

    /// Copies bytes `range` of `source` into part `number` inside the server; returns the part's ETag.
    ///
    /// Signed here rather than by libcurl: libcurl 7.88 sorts header lines before it splits off their
    /// names, so `x-amz-copy-source-range` comes before `x-amz-copy-source` in its canonical request,
    /// and the server rejects the signature.
    func copyPart(_ number: Int, key: String, uploadID: String, source: String, range: Range<Int64>) throws -> String {
        let copySource = "/" + settings.bucket + "/" + S3Client.encodePath(source)
        let query = [("partNumber", String(number)), ("uploadId", uploadID)]
        let headers = ["x-amz-copy-source": copySource, "x-amz-copy-source-range": "bytes=\(range.lowerBound)-\(range.upperBound - 1)"]
        let what = "copying part \(number) of \(key)"
        let response = try withRetries(what) { _ in
            let url = url(for: key, query: query)
            let http = HTTPRequest(method: "PUT", url: url, headers: signedHeaders(method: "PUT", url: url, headers: headers), body: .none)
            let response = try transport.send(http, onHeaders: nil, onData: nil)
            guard response.status == 200, S3XML.parseError(response.body).code == nil else {
                throw failure(HTTPResponse(status: response.status == 200 ? 500 : response.status, headers: response.headers, body: response.body), what: what, key: key)
            }
            return response
        }
        guard let etag = S3XML.value(response.body, at: "CopyPartResult/ETag").map(Self.unquote), !etag.isEmpty else {
            throw BackupError(.sinkFailed, "\(component): the server copied part \(number) of \(key) without an ETag")
        }
        return etag
    }
}

extension S3Client {
    /// The header lines of a request signed with AWS Signature Version 4: `headers`, the payload hash
    /// (of an empty body), the date, a session token if there is one, and the Authorization line.
    func signedHeaders(method: String, url: String, headers: [String: String], now: Date = Date()) -> [String] {
        let components = URLComponents(string: url)!
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let stamp = formatter.string(from: now)
        let day = String(stamp.prefix(8))
        var all = headers
        all["host"] = (components.host ?? "") + (components.port.map { ":\($0)" } ?? "")
        all["x-amz-content-sha256"] = S3Client.emptyPayloadHash
        all["x-amz-date"] = stamp
        if let token = credentials.sessionToken { all["x-amz-security-token"] = token }
        let names = all.keys.map { $0.lowercased() }.sorted()
        let canonicalHeaders = names.map { "\($0):\(all[$0]!.trimmingCharacters(in: .whitespaces))\n" }.joined()
        let signed = names.joined(separator: ";")
        let canonicalQuery = (components.percentEncodedQuery ?? "").split(separator: "&").map(String.init).sorted().joined(separator: "&")
        let canonical = [method, components.percentEncodedPath, canonicalQuery, canonicalHeaders, signed, S3Client.emptyPayloadHash].joined(separator: "\n")
        let scope = "\(day)/\(settings.region)/s3/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", stamp, scope, SHA256.hash(data: Array(canonical.utf8)).hexString].joined(separator: "\n")
        func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
        }
        var key = hmac(Array("AWS4\(credentials.secretKey)".utf8), day)
        for part in [settings.region, "s3", "aws4_request"] { key = hmac(key, part) }
        let signature = hmac(key, toSign).hexString
        return all.filter { $0.key != "host" }.map { "\($0.key): \($0.value)" }.sorted()
            + ["Authorization: AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signed), Signature=\(signature)"]
    }
}
