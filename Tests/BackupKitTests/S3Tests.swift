import BackupKit
import BackupKitTesting
@testable import BackupSinks
import BackupSources
import BackupTransport
import Foundation
import Testing

/// The S3 client, the s3 sink and the s3-bucket source against SeaweedFS, which checks SigV4 signatures.
@Suite(.serialized) struct S3Tests {
    let s3: TestS3

    init() throws { s3 = try TestS3.load() }

    @Test func theS3SinkConforms() async throws {
        let bucket = try s3.makeBucket("conform")
        let dir = try TemporaryDirectory("s3-conform")
        defer { dir.remove() }
        let settings = s3.settings(bucket: bucket, prefix: "schedgen/", partSize: 16 << 20)
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { S3Sink(name: "offsite", settings: settings, environment: [:]) }.run()
    }

    /// A stream that hands out a few bytes at a time (as any reader may) still goes up whole, in
    /// single and multipart uploads.
    @Test(arguments: [3_000_000, 11 << 20])
    func streamedUploadsCollectShortReadsIntoWholeParts(length: Int) throws {
        let bucket = try s3.makeBucket("short-reads")
        let client = try S3Client(settings: s3.settings(bucket: bucket), environment: [:], component: "test")
        let bytes = pseudoRandomBytes(length)
        var offset = 0
        try client.upload(length: Int64(length), as: "stream.bin", headers: []) { buffer in
            let count = min(buffer.count, length - offset, 7_777)
            bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) }
            offset += count
            return count
        }
        var stored: [UInt8] = []
        try client.get("stream.bin") { stored += $0 }
        #expect(stored.hexDigest == bytes.hexDigest, "\(stored.count) bytes stored of \(length)")
    }

    @Test func listingPagesThroughContinuationTokens() async throws {
        let bucket = try s3.makeBucket("pages")
        let client = try S3Client(settings: s3.settings(bucket: bucket), environment: [:], component: "test")
        for index in 0..<5 { try client.upload(length: 3, as: "p/object-\(index)", headers: []) { buffer in
            Array("abc".utf8).withUnsafeBytes { buffer.copyMemory(from: $0) }
            return 3
        } }
        var pages: [[String]] = []
        try client.list(prefix: "p/", pageSize: 2) { pages.append($0.map(\.key)) }
        #expect(pages == [["p/object-0", "p/object-1"], ["p/object-2", "p/object-3"], ["p/object-4"]])
    }

    @Test func aWrongSecretIsAnAuthenticationError() async throws {
        let bucket = try s3.makeBucket("auth")
        var settings = s3.settings(bucket: bucket)
        settings.secretKey = .value("definitely-wrong")
        do {
            _ = try await S3Sink(name: "offsite", settings: settings, environment: [:]).list()
            Issue.record("a wrong secret was accepted")
        } catch let error as BackupError {
            #expect(error.code == .authenticationFailed && error.message.contains("SignatureDoesNotMatch") && error.message.contains("secret"), "\(error.message)")
            #expect(!error.message.contains("definitely-wrong"))
        }
        var missing = s3.settings(bucket: bucket)
        missing.secretKey = nil
        missing.accessKey = nil
        await #expect(throws: BackupError.self) { _ = try await S3Sink(name: "offsite", settings: missing, environment: [:]).list() }
    }

    /// Connections reset in the middle of parts: the upload completes through retries. (500 answers now
    /// and then need no socket: S3ClientRulesTests scripts them.)
    @Test func uploadsSurviveDroppedConnections() async throws {
        let bucket = try s3.makeBucket("faults")
        let dir = try TemporaryDirectory("s3-faults")
        defer { dir.remove() }
        let file = try stage(pseudoRandomBytes(23 << 20), in: dir)
        for arguments in [["--drop-every", "2", "--drop-after", "100000", "--only-method", "PUT", "--only-query", "partNumber="]] {
            let proxy = try FaultProxy(target: String(s3.endpoint.dropFirst("http://".count)), arguments: arguments)
            let sink = S3Sink(name: "offsite", settings: s3.settings(bucket: bucket, endpoint: proxy.url), environment: [:])
            let receipt = try await sink.put("db_app_20240101_000000.sql.gz", from: file)
            #expect(receipt.checks == ["size", "content-md5", "etag"])
            let faults = proxy.logLines.filter { $0.contains("dropped") || $0.contains("injected") }
            #expect(!faults.isEmpty, "the proxy injected faults: \(proxy.logLines.suffix(5))")
            let destination = ByteDestination { _ in }
            try await S3Sink(name: "direct", settings: s3.settings(bucket: bucket), environment: [:]).get("db_app_20240101_000000.sql.gz", into: destination)
            #expect(destination.digest == file.digest, "the stored object is byte for byte the artifact")
        }
    }

    /// Faults that never stop: the put fails cleanly and no multipart upload is left open.
    @Test func aFailedUploadIsAbortedAndLeavesNoParts() async throws {
        let bucket = try s3.makeBucket("abort")
        let dir = try TemporaryDirectory("s3-abort")
        defer { dir.remove() }
        let file = try stage(pseudoRandomBytes(12 << 20), in: dir)
        let proxy = try FaultProxy(target: String(s3.endpoint.dropFirst("http://".count)), arguments: ["--fail-always", "--only-query", "partNumber="])
        let sink = S3Sink(name: "offsite", settings: s3.settings(bucket: bucket, prefix: "x/", endpoint: proxy.url, maxAttempts: 2), environment: [:])
        await #expect(throws: BackupError.self) { try await sink.put("db_app_20240101_000000.sql.gz", from: file) }
        let client = try S3Client(settings: s3.settings(bucket: bucket), environment: [:], component: "test")
        #expect(try client.multipartUploads(prefix: "").isEmpty, "AbortMultipartUpload removed the parts")
        #expect(try await sink.list().isEmpty)
        #expect(proxy.logLines.contains { $0.contains("DELETE") && $0.contains("uploadId") }, "the abort went out")
    }

    /// Multipart uploads a killed run left open: a run aborts those of its own keys under the prefix and
    /// says so, and leaves another plan's, another source's and those outside the prefix alone (checked
    /// with boto3). The age threshold is 0 s here; plans cannot set less than an hour.
    @Test func aRunAbortsAbandonedUploadsOfItsOwnKeys() async throws {
        let bucket = try s3.makeBucket("abandoned")
        let dir = try TemporaryDirectory("s3-abandoned")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let ours = ["sg/files_data_20240101_000000.tar.gz", "sg/manifest_demo_20240101_000000.json"]
        let foreign = ["sg/other_data_20240101_000000.tar.gz", "sg/manifest_else_20240101_000000.json", "elsewhere/files_data_20240101_000000.tar.gz"]
        _ = try s3.python("""
        for key in \((ours + foreign).map { "'\($0)'" }.joined(separator: ", ")):
            upload = s3.create_multipart_upload(Bucket='\(bucket)', Key=key)
            s3.upload_part(Bucket='\(bucket)', Key=key, UploadId=upload['UploadId'], PartNumber=1, Body=b'x' * 1024)
        """)
        let listScript = """
        print(json.dumps(sorted(u['Key'] for u in s3.list_multipart_uploads(Bucket='\(bucket)').get('Uploads', []))))
        """
        let before = try JSONSerialization.jsonObject(with: Data(try s3.python(listScript).utf8)) as? [String]
        #expect(before == (ours + foreign).sorted(), "SeaweedFS lists the open uploads")
        var settings = s3.settings(bucket: bucket, prefix: "sg/")
        settings.abandonedUploadAge = 0
        var plan = BackupPlan(name: "demo", sources: [DirectorySource(name: "files", configuration: .init(path: dir.sub("data")))],
                              sinks: [S3Sink(name: "offsite", settings: settings, environment: [:])])
        plan.stateDirectory = dir.sub("state")
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        let after = try JSONSerialization.jsonObject(with: Data(try s3.python(listScript).utf8)) as? [String]
        #expect(after == foreign.sorted(), "only the plan's own uploads under the prefix were aborted")
        let notice = report.warnings.first { $0.contains("aborted 2 abandoned upload(s)") }
        #expect(notice.map { line in ours.allSatisfy { line.contains($0.dropFirst(3)) } } == true, "\(report.warnings)")
    }

    /// A run whose remote sink keeps failing still stores the set locally and ends degraded (exit 4).
    @Test func aFailingRemoteSinkDegradesTheRunAndTheLocalSinkGetsTheSet() throws {
        let bucket = try s3.makeBucket("degraded")
        let proxy = try FaultProxy(target: String(s3.endpoint.dropFirst("http://".count)), arguments: ["--fail-always", "--only-method", "PUT"])
        let dir = try BackupctlTests.workspace("s3-degraded", plan: """
          - name: offsite
            type: s3
            endpoint: \(proxy.url)
            bucket: \(bucket)
            path_style: true
            access_key: \(s3.accessKey)
            secret_key_file: ./s3-secret
            max_attempts: 2
        """)
        defer { dir.remove() }
        try writeFile(dir.sub("s3-secret"), s3.secretKey + "\n", mode: 0o600)
        let result = try backupctl(["run", "--json"], in: dir.path)
        #expect(result.status == 4, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(report?["status"] as? String == "degraded")
        let sinks = report?["sinks"] as? [[String: Any]] ?? []
        #expect(sinks.map { $0["status"] as? String } == ["stored", "failed"], "\(sinks)")
        #expect(!result.stdout.contains(s3.secretKey) && !result.stderr.contains(s3.secretKey))
        let names = BackupctlTests.finalNames(dir.sub("backups"))
        let manifestName = try #require(names.first { $0.hasPrefix("manifest_") })
        let manifest = try Manifest.decode(readFile(dir.sub("backups/\(manifestName)"))!, key: manifestName)
        #expect(manifest.sinks.first { $0.sink == "offsite" }?.status == .failed)
        #expect(manifest.sinks.first { $0.sink == "local" }?.checks?.contains("size") == true)
    }

    /// Retention prunes the remote sink too, and restore and verify read from it.
    @Test func remoteSetsArePrunedVerifiedAndRestored() throws {
        let bucket = try s3.makeBucket("remote")
        let dir = try BackupctlTests.workspace("s3-remote", plan: """
          - name: offsite
            type: s3
            endpoint: \(s3.endpoint)
            bucket: \(bucket)
            prefix: schedgen/
            access_key: \(s3.accessKey)
            secret_key_file: ./s3-secret
        retention: { keep_last: 1 }
        """)
        defer { dir.remove() }
        try writeFile(dir.sub("s3-secret"), s3.secretKey + "\n", mode: 0o600)
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let second = try backupctl(["run"], in: dir.path)
        #expect(second.status == 0, "\(second.stderr)")
        let keys = try s3.python("print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='\(bucket)').get('Contents', [])))")
        #expect(keys.split(separator: "\n").count == 3, "one set left in the bucket: \(keys)")
        #expect(keys.split(separator: "\n").allSatisfy { $0.hasPrefix("schedgen/") })

        let verify = try backupctl(["verify", "--latest", "--sink", "offsite"], in: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // The local copies are gone (the signing key in the state directory is not).
        for name in BackupctlTests.finalNames(dir.sub("backups")) { try FileManager.default.removeItem(atPath: dir.sub("backups/\(name)")) }
        let restore = try backupctl(["restore", "--only", "minio", "--to", "restored"], in: dir.path)
        #expect(restore.status == 0, "the set comes from the remote sink when the local one lacks it: \(restore.stderr)")
        #expect(readFile(dir.sub("restored/blob.bin")) == readFile(dir.sub("data/blob.bin")))

        // A damaged remote copy of the same size is caught by its SHA-256 before it is used.
        let artifact = String(try #require(keys.split(separator: "\n").first { $0.contains("minio_") }))
        _ = try s3.python("""
        body = bytearray(s3.get_object(Bucket='\(bucket)', Key='\(artifact)')['Body'].read())
        body[len(body) // 2] ^= 0x40
        s3.put_object(Bucket='\(bucket)', Key='\(artifact)', Body=bytes(body))
        """)
        let damaged = try backupctl(["restore", "--only", "minio", "--to", "restored2", "--sink", "offsite"], in: dir.path)
        #expect(damaged.status != 0 && damaged.stderr.contains("damaged"), "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restored2/blob.bin")))
    }

    /// A bucket goes through backup and comes back into a new bucket with the same keys, sizes,
    /// contents and metadata.
    @Test func aBucketRoundTripsWithItsMetadata() async throws {
        let source = try s3.makeBucket("pdfs")
        _ = try s3.python("""
        import os
        objects = {
            'invoices/2024/invoice-001.pdf': (b'%PDF-1.7 ' + os.urandom(200000), 'application/pdf', {'customer': 'acme', 'pages': '3'}),
            'invoices/2024/invoice-002.pdf': (b'%PDF-1.7 ' + os.urandom(12 * 1024 * 1024), 'application/pdf', {'customer': 'globex'}),
            'images/logo.png': (b'\\x89PNG' + os.urandom(5000), 'image/png', {}),
            'notes/příliš žluťoučký.txt': ('kůň'.encode(), 'text/plain; charset=utf-8', {'lang': 'cs'}),
            'empty.bin': (b'', 'application/octet-stream', {}),
        }
        for key, (body, content_type, metadata) in objects.items():
            s3.put_object(Bucket='\(source)', Key=key, Body=body, ContentType=content_type, Metadata=metadata)
        s3.put_object(Bucket='\(source)', Key='archive/', Body=b'')
        """)
        let dir = try TemporaryDirectory("bucket-roundtrip")
        defer { dir.remove() }
        let settings = s3.settings(bucket: source)
        let plan = BackupPlan(name: "minio", sources: [S3BucketSource(name: "minio", settings: settings, environment: [:])],
                              sinks: [LocalSink(directory: dir.sub("backups"))])
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        let artifact = try #require(report.artifacts.first)
        #expect(artifact.name.hasPrefix("minio_\(source)_") && artifact.name.hasSuffix(".tar.gz"))
        #expect(artifact.entries == 6)
        let listing = try runProcess("/bin/tar", ["tzf", dir.sub("backups/\(artifact.name)")])
        #expect(listing.status == 0 && listing.stdout.contains("invoices/2024/invoice-002.pdf"), "\(listing.stderr)")

        let target = "bk-restored-\(UUID().uuidString.prefix(8).lowercased())"
        let restored = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .bucket(target)))
        #expect(restored.first?.entries == 6)
        #expect(restored.first?.checkPassed == true && restored.first?.check == "6 entries, as the manifest records")
        let describe = """
        def describe(bucket):
            out = []
            for o in sorted(s3.list_objects_v2(Bucket=bucket)['Contents'], key=lambda o: o['Key']):
                h = s3.head_object(Bucket=bucket, Key=o['Key'])
                body = s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read()
                out.append([o['Key'], o['Size'], hashlib.sha256(body).hexdigest(), h.get('ContentType'), h.get('Metadata')])
            return out
        """
        let original = try s3.python(describe + "\nprint(json.dumps(describe('\(source)')))")
        let copy = try s3.python(describe + "\nprint(json.dumps(describe('\(target)')))")
        #expect(original == copy, "keys, sizes, contents, content types and metadata match")
        #expect(original.contains("\"customer\": \"acme\"") && original.contains("application/pdf"))

        let files = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("files"))))
        #expect(files.first?.entries == 6)
        #expect(readFile(dir.sub("files/notes/příliš žluťoučký.txt")) == Array("kůň".utf8))
        await #expect(throws: BackupError.self, "a non-empty target bucket is refused") {
            try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .bucket(target)))
        }
    }

    func stage(_ bytes: [UInt8], in dir: TemporaryDirectory) throws -> StagedFile {
        try StagedFile(writing: bytes, to: dir.sub("artifact"))
    }
}

/// S3 settings and part sizes, without a server.
@Suite struct S3SettingsTests {
    @Test func partSizesKeepEveryUploadWithinTenThousandParts() {
        let sixteen: Int64 = 16 << 20
        for size in [Int64(1), 5 << 20, 50 << 30, 1 << 40, 5 << 40] {
            let part = S3Client.partSize(for: size, configured: sixteen)
            #expect(part >= sixteen && part % (1 << 20) == 0)
            #expect((size + part - 1) / part <= 10_000, "\(size) bytes in \(part)-byte parts")
        }
        #expect(S3Client.partSize(for: 50 << 30, configured: sixteen) == sixteen, "50 GiB fits in 3,200 parts of 16 MiB")
        #expect(S3Client.partSize(for: 1 << 40, configured: sixteen) == 105 << 20)
    }

    @Test func theIssuePlanExampleIsValid() throws {
        let yaml = """
        sources:
          - name: minio
            type: s3-bucket
            endpoint: http://127.0.0.1:9000
            bucket: schedgen-pdfs
            access_key: ${MINIO_ACCESS_KEY}
            secret_key_file: /run/secrets/minio_secret_key
        sinks:
          - { name: local, type: local, path: ./backups }
          - name: offsite
            type: s3
            endpoint: https://s3.eu-central-1.amazonaws.com
            region: eu-central-1
            bucket: acme-backups
            prefix: schedgen/
            access_key: ${AWS_ACCESS_KEY_ID}
            secret_key: ${AWS_SECRET_ACCESS_KEY}
          - name: nas
            type: sftp
            url: sftp://backup@nas.example.com:22/srv/backups/schedgen
            private_key_file: /etc/backupctl/id_ed25519
            known_hosts_file: /etc/backupctl/known_hosts
        """
        let plan = try PlanLoader(registry: standardRegistry(), environment: ["MINIO_ACCESS_KEY": "minio", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"])
            .load(yaml: yaml, origin: "backup.yml", baseDirectory: "/srv")
        #expect(plan.sinks.map(\.name) == ["local", "offsite", "nas"])
        let offsite = try #require(plan.sinks[1] as? S3Sink)
        #expect(offsite.settings.prefix == "schedgen/" && !offsite.settings.pathStyle && offsite.settings.region == "eu-central-1")
        let minio = try #require(plan.sources[0].source as? S3BucketSource)
        #expect(minio.settings.pathStyle && minio.settings.bucket == "schedgen-pdfs")
        let nas = try #require((plan.sinks[2] as? RetryingSink)?.base as? SFTPSink, "the sftp sink comes wrapped in a RetryingSink")
        #expect(nas.directory.path == "/srv/backups/schedgen/")
    }

}
