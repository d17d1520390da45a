import BackupKit
import BackupTransport
import Foundation

/// The SeaweedFS S3 test server (signatures checked).
struct TestS3 {
    let endpoint: String
    let region: String
    let accessKey: String
    let secretKey: String

    static func load() throws -> TestS3 {
        let servers = try TestServers.load()
        return TestS3(endpoint: try servers.value("BACKUPKIT_S3_ENDPOINT"), region: servers.values["BACKUPKIT_S3_REGION"] ?? "us-east-1",
                      accessKey: try servers.value("BACKUPKIT_S3_ACCESS_KEY"), secretKey: try servers.value("BACKUPKIT_S3_SECRET_KEY"))
    }

    func settings(bucket: String, prefix: String = "", endpoint: String? = nil, partSize: Int64 = 5 << 20, maxAttempts: Int = 5) -> S3Settings {
        S3Settings(endpoint: endpoint ?? self.endpoint, region: region, bucket: bucket, prefix: prefix, pathStyle: true,
                   accessKey: .value(accessKey), secretKey: .value(secretKey), partSize: partSize, maxAttempts: maxAttempts)
    }

    /// A new, empty bucket with a unique name.
    func makeBucket(_ label: String) throws -> String {
        let name = "bk-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        try S3Client(settings: settings(bucket: name), environment: [:], component: "test").createBucket()
        return name
    }

    /// Runs a Python script with boto3 against the server (an independent S3 client for checks).
    func python(_ script: String) throws -> String {
        let venv = TestServers.directory + "/venv/bin/python3"
        let python = FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
        let prelude = """
        import boto3, json, hashlib, sys
        from botocore.config import Config
        s3 = boto3.client('s3', endpoint_url='\(endpoint)', region_name='\(region)', aws_access_key_id='\(accessKey)',
                          aws_secret_access_key='\(secretKey)', config=Config(s3={'addressing_style': 'path'}))

        """
        let result = try runProcess(python, ["-c", prelude + script])
        guard result.status == 0 else { throw BackupError(.io, "boto3 script failed: \(result.stderr)") }
        return result.stdout
    }
}

/// The fault-injecting proxy from scripts/servers, run in front of a real server for one test.
final class FaultProxy {
    let process: ChildProcess
    let port: Int
    let log: String

    init(target: String, arguments: [String], listenPort: Int = 0) throws {
        let dir = NSTemporaryDirectory() + "fault-proxy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        log = dir + "/log"
        // ChildProcess, not Foundation's Process: it starts the child with no signals blocked, so the
        // proxy sees SIGTERM even when the test runs on a thread that blocks signals.
        process = try ChildProcess(executable: "/usr/bin/python3",
                                   arguments: [TestServers.repositoryRoot + "/scripts/servers/fault_proxy.py", "--listen", "127.0.0.1:\(listenPort)", "--target", target,
                                               "--port-file", dir + "/port", "--log", log] + arguments,
                                   environment: ProcessInfo.processInfo.environment, stdout: .null)
        var port = 0
        waitUntil {
            port = (try? String(contentsOfFile: dir + "/port", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return port > 0
        }
        guard port > 0 else { throw BackupError(.io, "the fault proxy did not start") }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    var logLines: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    deinit { process.terminate() }
}
