import BackupKit
import BackupSources
import BackupTransport
import Crypto
import Foundation
import Synchronization
import Testing

/// The S3 client's own rules through a scripted transport: what it retries, when it aborts a multipart
/// upload, how it resumes a download. Fast and without a server; S3Tests runs the client against
/// SeaweedFS, and through the fault proxy for what only a socket shows.
@Suite struct S3ClientRulesTests {
    static func xmlError(_ code: String) -> [UInt8] { Array("<Error><Code>\(code)</Code><Message>scripted</Message></Error>".utf8) }

    /// Records the waits between attempts instead of waiting.
    final class Waits: Sendable {
        let count = Atomic<Int>(0)
        var policy: RetryPolicy { RetryPolicy(maxAttempts: 3, sleeper: .instant { _ in self.count.add(1, ordering: .relaxed) }) }
    }

    func client(_ transport: ScriptedTransport, waits: Waits = Waits(), partSize: Int64 = 5 << 20) throws -> S3Client {
        let settings = S3Settings(endpoint: "http://s3.test:9000", bucket: "bucket", prefix: "p/", pathStyle: true, accessKey: .value("AKIA"),
                                  secretKey: .value("s3cr3t"), partSize: partSize, concurrency: 1)
        return try S3Client(settings: settings, environment: [:], component: "test", logger: testLogger, transport: transport, retry: waits.policy)
    }

    @Test func serverErrorsAndResetsAreRetried() throws {
        let transport = ScriptedTransport([.respond(503, body: Self.xmlError("SlowDown")), .fail(ScriptedTransport.reset),
                                           .respond(200, headers: ["content-length": "42", "etag": "\"abc\""])])
        let waits = Waits()
        let head = try client(transport, waits: waits).head("p/a.bin")
        #expect(head?.size == 42 && head?.etag == "abc")
        #expect(transport.sent.map(\.method) == ["HEAD", "HEAD", "HEAD"] && waits.count.load(ordering: .relaxed) == 2)
        let signing = try #require(transport.sent.first?.request.signing)
        #expect(signing.region == "us-east-1" && signing.accessKey == "AKIA")
        #expect(transport.sent[0].url == "http://s3.test:9000/bucket/p/a.bin")
    }

    @Test func accessDeniedIsNotRetried() throws {
        let transport = ScriptedTransport([.respond(403, body: Self.xmlError("AccessDenied")), .respond(200)])
        let waits = Waits()
        do {
            _ = try client(transport, waits: waits).list(prefix: "p/") { _ in }
            Issue.record("a 403 was accepted")
        } catch let error as BackupError {
            #expect(error.code == .authenticationFailed && error.message.contains("AccessDenied"), "\(error.message)")
            #expect(!error.message.contains("s3cr3t"))
        }
        #expect(transport.sent.count == 1 && waits.count.load(ordering: .relaxed) == 0)
    }

    @Test func persistentServerErrorsFailAfterTheLastAttempt() throws {
        let transport = ScriptedTransport(Array(repeating: .respond(500, body: Self.xmlError("InternalError")), count: 5))
        #expect(throws: BackupError.self) { try client(transport).delete("p/a.bin") }
        #expect(transport.sent.count == 3, "three attempts of the HEAD before the delete")
    }

    /// An upload with part and completion failures on the way: every part goes up once in full, the
    /// retries resend what failed, and the receipt confirms size, MD5s and the multipart ETag.
    @Test func aMultipartUploadRetriesFailedPartsAndCompletes() async throws {
        let dir = try TemporaryDirectory("s3-rules-upload")
        defer { dir.remove() }
        let bytes = pseudoRandomBytes(11 << 20)
        let file = try StagedFile(writing: bytes, to: dir.sub("artifact"))
        let ranges = [0..<(5 << 20), (5 << 20)..<(10 << 20), (10 << 20)..<bytes.count]
        let md5s = ranges.map { Array(Insecure.MD5.hash(data: bytes[$0])) }
        let part = { (index: Int) in ScriptedTransport.Step.respond(200, headers: ["etag": "\"\(md5s[index].hexString)\""]) }
        let expectedETag = Insecure.MD5.hash(data: md5s.flatMap { $0 }).hexString + "-3"
        let transport = ScriptedTransport([
            .respond(200, body: Array("<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>".utf8)),
            .respond(500, body: Self.xmlError("InternalError")), part(0),
            part(1),
            .fail(ScriptedTransport.reset), part(2),
            .respond(200, body: Self.xmlError("InternalError")),  // 200 with an error inside: retried
            .respond(200, body: Array("<CompleteMultipartUploadResult/>".utf8)),
            .respond(200, headers: ["content-length": "\(bytes.count)", "etag": "\"\(expectedETag)\""]),
        ])
        let receipt = try await client(transport).upload(file: file, as: "p/a.bin")
        #expect(receipt.checks == ["size", "content-md5", "etag"])
        #expect(transport.unusedSteps == 0)
        let parts = transport.sent.filter { $0.url.contains("partNumber=") }
        #expect(parts.count == 5)
        for (index, range) in ranges.enumerated() {
            let sent = parts.filter { $0.url.contains("partNumber=\(index + 1)&") }
            #expect(!sent.isEmpty && sent.allSatisfy { $0.body == Array(bytes[range]) }, "part \(index + 1) is sent whole each time")
            #expect(sent.allSatisfy { $0.request.header("Content-MD5") == Data(md5s[index]).base64EncodedString() })
        }
        let completions = transport.sent.filter { $0.method == "POST" && $0.url.contains("uploadId=u-1") }
        #expect(completions.count == 2 && completions[1].body == completions[0].body)
    }

    @Test func aPartThatFailsForGoodAbortsTheUpload() async throws {
        let dir = try TemporaryDirectory("s3-rules-abort")
        defer { dir.remove() }
        let file = try StagedFile(writing: pseudoRandomBytes(11 << 20), to: dir.sub("artifact"))
        let transport = ScriptedTransport([
            .respond(200, body: Array("<InitiateMultipartUploadResult><UploadId>u-2</UploadId></InitiateMultipartUploadResult>".utf8)),
            .respond(200),
            .respond(403, body: Self.xmlError("AccessDenied")),
            .respond(204),
        ])
        await #expect(throws: BackupError.self) { try await client(transport).upload(file: file, as: "p/a.bin") }
        let calls = transport.sent.map { "\($0.method) \($0.url.split(separator: "?").last ?? "")" }
        #expect(calls == ["POST uploads=", "PUT partNumber=1&uploadId=u-2", "PUT partNumber=2&uploadId=u-2", "DELETE uploadId=u-2"],
                "no third part, no completion, and the abort: \(calls)")
    }

    @Test func aDroppedDownloadResumesTheSameVersionWhereItStopped() throws {
        let content = Array("0123456789".utf8)
        let transport = ScriptedTransport([
            .breakOff(200, headers: ["content-length": "10", "etag": "\"v1\""], body: Array(content[0..<4]), error: ScriptedTransport.reset),
            .respond(206, headers: ["content-length": "6", "etag": "\"v1\""], body: Array(content[4...])),
        ])
        var received: [UInt8] = []
        var announced: [Int64] = []
        try client(transport).get("p/a.bin", onHeaders: { size, _ in announced.append(size) }) { received += $0 }
        #expect(received == content && announced == [10])
        #expect(transport.sent[0].request.header("Range") == nil)
        #expect(transport.sent[1].request.header("Range") == "bytes=4-" && transport.sent[1].request.header("If-Match") == "\"v1\"")
    }

    @Test func aDownloadOfAnObjectThatChangedIsNotResumed() throws {
        let transport = ScriptedTransport([
            .breakOff(200, headers: ["content-length": "10", "etag": "\"v1\""], body: Array("0123".utf8), error: ScriptedTransport.reset),
            .respond(412, body: Self.xmlError("PreconditionFailed")),
            .respond(206, body: Array("456789".utf8)),
        ])
        do {
            try client(transport).get("p/a.bin") { _ in }
            Issue.record("a changed object was resumed")
        } catch let error as BackupError {
            #expect(error.message.contains("changed while it was downloaded"), "\(error.message)")
        }
        #expect(transport.sent.count == 2)
    }

    /// ListMultipartUploads is parsed page by page, and only uploads of the plan's own keys under the
    /// prefix that are older than the threshold are aborted: never another plan's key, a young upload,
    /// one without a start time, or a key outside the prefix.
    @Test func onlyOldUploadsOfOwnKeysUnderThePrefixAreAborted() throws {
        func upload(_ key: String, _ id: String, _ initiated: String?) -> String {
            "<Upload><Key>\(key)</Key><UploadId>\(id)</UploadId>\(initiated.map { "<Initiated>\($0)</Initiated>" } ?? "")</Upload>"
        }
        let page1 = "<ListMultipartUploadsResult><Bucket>bucket</Bucket><IsTruncated>true</IsTruncated><NextKeyMarker>p/m</NextKeyMarker><NextUploadIdMarker>u3</NextUploadIdMarker>"
            + upload("p/files_data_20240101_000000.tar.gz", "u1", "2024-01-01T00:00:00.000Z")
            + upload("p/manifest_demo_20240101_000000.json", "u2", "2024-01-01T00:00:00Z")
            + upload("p/manifest_other_20240101_000000.json", "u3", "2024-01-01T00:00:00.000Z")
            + "</ListMultipartUploadsResult>"
        let page2 = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
            + upload("p/foreign_data_20240101_000000.tar.gz", "u4", "2024-01-01T00:00:00.000Z")
            + upload("p/files_data_20240102_000000.tar.gz", "u5", "2024-01-02T23:30:00.000Z")
            + upload("p/files_data_20240103_000000.tar.gz", "u6", nil)
            + upload("p/sub/files_data_20240101_000000.tar.gz", "u7", "2024-01-01T00:00:00.000Z")
            + upload("p/.files_data_20240101_000000.tar.gz.tmp-1", "u8", "2024-01-01T00:00:00.000Z")
            + "</ListMultipartUploadsResult>"
        let transport = ScriptedTransport([.respond(200, body: Array(page1.utf8)), .respond(200, body: Array(page2.utf8)),
                                           .respond(204), .respond(404)])
        let plan = BackupPlan(name: "demo", sources: [DirectorySource(name: "files", configuration: .init(path: "/nonexistent"))], sinks: [])
        // A day after 2024-01-02 00:00: u5 started half an hour ago.
        let now = Date(timeIntervalSince1970: 1_704_240_000)
        let aborted = try client(transport).abortAbandonedUploads(now: now) { plan.ownsKey($0) }
        #expect(aborted.map(\.uploadID) == ["u1", "u2"], "\(aborted)")
        let sent = transport.sent
        #expect(sent.map(\.method) == ["GET", "GET", "DELETE", "DELETE"])
        #expect(sent[0].url == "http://s3.test:9000/bucket?prefix=p%2F&uploads=")
        #expect(sent[1].url.contains("key-marker=p%2Fm") && sent[1].url.contains("upload-id-marker=u3"), "\(sent[1].url)")
        #expect(sent[2].url == "http://s3.test:9000/bucket/p/files_data_20240101_000000.tar.gz?uploadId=u1")
        #expect(sent[3].url == "http://s3.test:9000/bucket/p/manifest_demo_20240101_000000.json?uploadId=u2")
        #expect(transport.unusedSteps == 0)
    }
}
