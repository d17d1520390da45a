import BackupKit
import Crypto
import Foundation

extension S3Client {
    /// S3 allows at most 10,000 parts, of 5 MiB to 5 GiB each.
    static let maximumParts: Int64 = 10_000

    /// The part size for an upload of `size` bytes: the configured size, raised (to whole MiB) until the
    /// upload needs no more than 10,000 parts. A 1 TiB artifact gets 105 MiB parts rather than failing.
    package static func partSize(for size: Int64, configured: Int64) -> Int64 {
        let needed = (size + maximumParts - 1) / maximumParts
        let rounded = (needed + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        return max(configured, rounded, 5 << 20)
    }

    /// Headers every upload carries: storage class and server-side encryption.
    var uploadHeaders: [String] {
        var headers: [String] = []
        if let storageClass = settings.storageClass { headers.append("x-amz-storage-class: \(storageClass)") }
        if let sse = settings.serverSideEncryption { headers.append("x-amz-server-side-encryption: \(sse)") }
        if let key = settings.kmsKeyID { headers.append("x-amz-server-side-encryption-aws-kms-key-id: \(key)") }
        return headers
    }

    /// With KMS encryption the ETag is not the MD5 of the content, so it cannot confirm it.
    var etagIsMD5: Bool { settings.serverSideEncryption?.hasPrefix("aws:kms") != true }

    struct PartHashes {
        var md5: [UInt8]
        var sha256Hex: String
        var md5Base64: String { Data(md5).base64EncodedString() }
        var md5Hex: String { md5.hexString }
    }

    static func hashes(of bytes: UnsafeRawBufferPointer) -> PartHashes {
        PartHashes(md5: Array(Insecure.MD5.hash(data: bytes)), sha256Hex: SHA256.hash(data: bytes).hexString)
    }

    /// Reads a range of the stored bytes once to compute the MD5 (for Content-MD5) and SHA-256 (for
    /// the signed payload). Only the upload itself counts as the upload's progress, not this read.
    static func hashes(of staged: StagedFile, offset: Int64, length: Int64) throws -> PartHashes {
        let path = staged.path
        let file = try staged.open(countingProgress: false)
        var md5 = Insecure.MD5()
        var sha = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset
        while position < offset + length {
            let want = Int(min(Int64(buffer.count), offset + length - position))
            let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: position)
            guard count > 0 else { throw BackupError(.io, "\(path) ended at \(position) bytes; expected \(offset + length)") }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            md5.update(bufferPointer: chunk)
            sha.update(bufferPointer: chunk)
            position += Int64(count)
        }
        return PartHashes(md5: Array(md5.finalize()), sha256Hex: sha.finalize().hexString)
    }

    /// Uploads a staged file as `key`, streaming with bounded memory: one PUT when it fits in a part,
    /// else a multipart upload whose parts go up `concurrency` at a time, each retried on transient
    /// failures. Every request carries the body's MD5 (Content-MD5) and SHA-256 (signed payload), so the
    /// server rejects a damaged part; each part's ETag is compared with its MD5. A multipart upload that
    /// fails for good is aborted, so no parts are left behind. Afterwards the stored object's size and
    /// ETag are confirmed with a HEAD request.
    package func upload(file: StagedFile, as key: String) async throws -> StoreReceipt {
        let size = file.digest.size
        let partSize = Self.partSize(for: size, configured: settings.partSize)
        var checks = ["size", "content-md5"]
        let expectedETag: String
        if size <= partSize {
            expectedETag = try await runCancellableOnDedicatedThread { cancellation in
                let hashes = try Self.hashes(of: file, offset: 0, length: size)
                let request = Request(method: "PUT", key: key, headers: uploadHeaders + ["Content-MD5: \(hashes.md5Base64)"],
                                      payloadHash: hashes.sha256Hex, body: .file(file, offset: 0, length: size))
                let response = try send(request, what: "uploading \(key)", cancellation: cancellation)
                try checkETag(response, expected: hashes.md5Hex, what: "uploading \(key)")
                return hashes.md5Hex
            }
        } else {
            let uploadID = try await runBlocking { try createMultipartUpload(key, headers: uploadHeaders) }
            do {
                let count = Int((size + partSize - 1) / partSize)
                let md5s = try await uploadParts(count: count, key: key, uploadID: uploadID) { number, cancellation in
                    let offset = Int64(number - 1) * partSize
                    let length = min(partSize, size - offset)
                    let hashes = try Self.hashes(of: file, offset: offset, length: length)
                    try uploadPart(number, key: key, uploadID: uploadID, hashes: hashes,
                                   body: .file(file, offset: offset, length: length), cancellation: cancellation)
                    return hashes.md5
                }
                try await runBlocking { try completeMultipartUpload(key, uploadID: uploadID, etags: md5s.map(\.hexString)) }
                expectedETag = Insecure.MD5.hash(data: md5s.flatMap { $0 }).hexString + "-\(count)"
            } catch {
                await abandon(key, uploadID: uploadID)
                throw error
            }
        }
        let stored = try await runBlocking { try head(key) }
        guard let stored, stored.size == size else {
            throw BackupError(.sinkFailed, "\(component): after uploading \(key), the server reports \(stored.map { "\($0.size) bytes" } ?? "no object") instead of \(size) bytes")
        }
        if etagIsMD5, let etag = stored.etag {
            guard etag == expectedETag else {
                throw BackupError(.sinkFailed, "\(component): after uploading \(key), its ETag \(etag) does not match the \(expectedETag) computed from the artifact")
            }
            checks.append("etag")
        }
        return StoreReceipt(checks: checks)
    }

    /// Uploads `count` parts with at most `concurrency` in flight; returns each part's MD5 in order.
    func uploadParts(count: Int, key: String, uploadID: String,
                     _ part: @escaping @Sendable (Int, CancellationFlag) throws -> [UInt8]) async throws -> [[UInt8]] {
        try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            var next = 1
            var results = [[UInt8]](repeating: [], count: count)
            func add() {
                let number = next
                next += 1
                group.addTask {
                    (number, try await runCancellableOnDedicatedThread { try part(number, $0) })
                }
            }
            for _ in 0..<min(settings.concurrency, count) { add() }
            while let (number, md5) = try await group.next() {
                results[number - 1] = md5
                if next <= count { add() }
            }
            return results
        }
    }

    func uploadPart(_ number: Int, key: String, uploadID: String, hashes: PartHashes, body: Body, cancellation: CancellationFlag) throws {
        let request = Request(method: "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                              headers: ["Content-MD5: \(hashes.md5Base64)"], payloadHash: hashes.sha256Hex, body: body)
        let what = "uploading part \(number) of \(key)"
        let response = try send(request, what: what, cancellation: cancellation)
        try checkETag(response, expected: hashes.md5Hex, what: what)
    }

    func checkETag(_ response: HTTPResponse, expected: String, what: String) throws {
        guard etagIsMD5, let etag = response.headers["etag"].map(Self.unquote) else { return }
        guard etag == expected else {
            throw BackupError(.sinkFailed, "\(component): \(what): the server's ETag \(etag) is not the MD5 \(expected) of what was sent", kind: .transient)
        }
    }

    func createMultipartUpload(_ key: String, headers: [String]) throws -> String {
        let response = try send(Request(method: "POST", key: key, query: [("uploads", "")], headers: headers), what: "starting the upload of \(key)")
        guard let id = S3XML.value(response.body, at: "InitiateMultipartUploadResult/UploadId"), !id.isEmpty else {
            throw BackupError(.sinkFailed, "\(component): the server started an upload of \(key) without an upload id")
        }
        return id
    }

    func completeMultipartUpload(_ key: String, uploadID: String, etags: [String]) throws {
        let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\"\($0.element)\"</ETag></Part>" }.joined()
        let body = Array("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(parts)</CompleteMultipartUpload>".utf8)
        let what = "completing the upload of \(key)"
        _ = try withRetries(what) { _ in
            let response = try perform(Request(method: "POST", key: key, query: [("uploadId", uploadID)],
                                               payloadHash: SHA256.hash(data: body).hexString, body: .bytes(body)))
            // S3 may answer 200 and still put an error in the body.
            if response.status != 200 || S3XML.parseError(response.body).code != nil {
                throw failure(HTTPResponse(status: response.status == 200 ? 500 : response.status, headers: response.headers, body: response.body),
                              what: what, key: key)
            }
            return response
        }
    }

    /// Aborts a multipart upload so the server drops its parts; retried, and logged if it still fails.
    func abandon(_ key: String, uploadID: String) async {
        _ = try? await runBlocking { abortMultipartUpload(key, uploadID: uploadID) }
    }

    func abortMultipartUpload(_ key: String, uploadID: String) {
        do {
            _ = try send(Request(method: "DELETE", key: key, query: [("uploadId", uploadID)]), what: "aborting the upload of \(key)", accept: [200, 204, 404])
        } catch {
            logger.error("cannot abort a failed multipart upload; its parts stay until a lifecycle rule removes them",
                         metadata: ["key": "\(key)", "upload": "\(uploadID)", "error": "\(error)"])
        }
    }

    /// Stores `bytes` as `key` in one PUT with their MD5 and SHA-256, and checks the answer's ETag.
    package func put(_ bytes: [UInt8], as key: String, headers: [String] = [], what: String, cancellation: CancellationFlag? = nil) throws {
        let hashes = bytes.withUnsafeBytes(Self.hashes)
        let request = Request(method: "PUT", key: key, headers: uploadHeaders + headers + ["Content-MD5: \(hashes.md5Base64)"],
                              payloadHash: hashes.sha256Hex, body: .bytes(bytes))
        try checkETag(try send(request, what: what, cancellation: cancellation), expected: hashes.md5Hex, what: what)
    }

    /// Uploads `length` bytes pulled in order from `read` (such as an entry of an archive being
    /// restored) as `key` with extra `headers` (content type, user metadata). One part is held in memory
    /// at a time, so memory stays at one part size whatever the length.
    package func upload(length: Int64, as key: String, headers: [String], read: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        let partSize = Self.partSize(for: length, configured: settings.partSize)
        /// The next `count` bytes, read straight into the part's own array.
        func readPart(_ count: Int) throws -> [UInt8] {
            try [UInt8](unsafeUninitializedCapacity: count) { buffer, filled in
                while filled < count {
                    let got = try read(UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[filled..<count]))
                    guard got > 0 else { throw BackupError(.restoreFailed, "\(key): the archive entry ended after \(filled) of \(count) bytes") }
                    filled += got
                }
            }
        }
        let never = CancellationFlag()
        if length <= partSize {
            try put(try readPart(Int(length)), as: key, headers: headers, what: "uploading \(key)", cancellation: never)
            return
        }
        let uploadID = try createMultipartUpload(key, headers: uploadHeaders + headers)
        do {
            var etags: [String] = []
            var offset: Int64 = 0
            var number = 1
            while offset < length {
                let count = Int(min(partSize, length - offset))
                let bytes = try readPart(count)
                let hashes = bytes.withUnsafeBytes(Self.hashes)
                try uploadPart(number, key: key, uploadID: uploadID, hashes: hashes, body: .bytes(bytes), cancellation: never)
                etags.append(hashes.md5Hex)
                offset += Int64(count)
                number += 1
            }
            try completeMultipartUpload(key, uploadID: uploadID, etags: etags)
        } catch {
            abortMultipartUpload(key, uploadID: uploadID)
            throw error
        }
    }
}
