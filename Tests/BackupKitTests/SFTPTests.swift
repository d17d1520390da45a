import BackupKit
import BackupKitTesting
import BackupSinks
import Foundation
import Glibc
import Testing

/// The sftp sink against Debian's sshd on loopback.
@Suite(.serialized) struct SFTPTests {
    let servers: TestServers

    init() throws { servers = try TestServers.load() }

    func configuration(directory: String, knownHosts: String? = nil, acceptUnknown: Bool = false) throws -> SFTPSink.Configuration {
        let url = "sftp://\(try servers.value("BACKUPKIT_SFTP_USER"))@\(try servers.value("BACKUPKIT_SFTP_HOST")):\(try servers.value("BACKUPKIT_SFTP_PORT"))\(try servers.value("BACKUPKIT_SFTP_DIR"))/\(directory)"
        return SFTPSink.Configuration(url: url, privateKeyFile: try servers.value("BACKUPKIT_SFTP_KEY_FILE"),
                                      knownHostsFile: try knownHosts ?? servers.value("BACKUPKIT_SFTP_KNOWN_HOSTS"), acceptUnknownHost: acceptUnknown)
    }

    @Test func theSFTPSinkConforms() async throws {
        let configuration = try configuration(directory: "conform-\(UUID().uuidString.prefix(8))")
        let dir = try TemporaryDirectory("sftp-conform")
        defer { dir.remove() }
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 64 << 20) {
            SFTPSink(name: "nas", configuration: configuration)
        }.run()
    }

    /// The preflight logs in and writes a probe: a directory that cannot be made, one the user may not
    /// write, and a port nothing listens on are named with what to fix; a healthy directory is made and
    /// left as it was.
    @Test func thePreflightNamesAnUnwritableDirectoryOrAnUnreachableServer() async throws {
        let forbidden = "/backupctl-forbidden-\(UUID().uuidString.prefix(8))"
        var configuration = try configuration(directory: "unused")
        configuration.url = "sftp://\(try servers.value("BACKUPKIT_SFTP_USER"))@\(try servers.value("BACKUPKIT_SFTP_HOST")):\(try servers.value("BACKUPKIT_SFTP_PORT"))\(forbidden)"
        let error = await #expect(throws: BackupError.self) { try await SFTPSink(name: "nas", configuration: configuration).preflight() }
        #expect(error?.message.contains("the directory \(forbidden)/ does not exist on the server and could not be made. Create it and give the user \(try servers.value("BACKUPKIT_SFTP_USER")) write access") == true,
                "\(error?.message ?? "")")
        #expect(error?.code == .sinkFailed, "not not_found: the sink is broken, no key is missing")
        configuration.url = "sftp://\(try servers.value("BACKUPKIT_SFTP_USER"))@\(try servers.value("BACKUPKIT_SFTP_HOST")):\(try servers.value("BACKUPKIT_SFTP_PORT"))/usr"
        let denied = await #expect(throws: BackupError.self) { try await SFTPSink(name: "nas", configuration: configuration).preflight() }
        #expect(denied?.message.contains("permission denied in /usr/ on the server. Give the user \(try servers.value("BACKUPKIT_SFTP_USER")) write access") == true,
                "an existing directory owned by root: \(denied?.message ?? "")")

        let port = try closedPort()
        configuration.url = "sftp://\(try servers.value("BACKUPKIT_SFTP_USER"))@127.0.0.1:\(port)/backups"
        let unreachable = await #expect(throws: BackupError.self) { try await SFTPSink(name: "nas", configuration: configuration).preflight() }
        #expect(unreachable?.code == .unreachable && unreachable?.kind == .transient, "\(String(describing: unreachable))")
        #expect(unreachable?.message.contains("sftp sink 'nas'") == true && unreachable?.message.contains("cannot reach 127.0.0.1:\(port) (connection refused)") == true,
                "\(unreachable?.message ?? "")")

        let directory = "preflight-\(UUID().uuidString.prefix(8))/new"
        let healthy = SFTPSink(name: "nas", configuration: try self.configuration(directory: directory))
        try await healthy.preflight()
        #expect(try await healthy.list().isEmpty)
        let made = try servers.value("BACKUPKIT_SFTP_DIR") + "/" + directory
        #expect(try FileManager.default.contentsOfDirectory(atPath: made).isEmpty, "the directory was made and the probe removed")
    }

    @Test func anUnknownHostIsRefusedUnlessThePlanAcceptsIt() async throws {
        let dir = try TemporaryDirectory("sftp-hostkey")
        defer { dir.remove() }
        try writeFile(dir.sub("empty_known_hosts"), "")
        try writeFile(dir.sub("a.bin"), pseudoRandomBytes(1000))
        let file = StagedFile(path: dir.sub("a.bin"), digest: FileDigest(size: 1000, sha256: ""))
        let refused = SFTPSink(name: "nas", configuration: try configuration(directory: "hostkey", knownHosts: dir.sub("empty_known_hosts")))
        do {
            try await refused.put("a_b_20240101_000000.tar.gz", from: file)
            Issue.record("an unknown host was accepted")
        } catch let error as BackupError {
            #expect(error.message.contains("host key"), "\(error.message)")
        }
        let accepted = SFTPSink(name: "nas", configuration: try configuration(directory: "hostkey", knownHosts: dir.sub("empty_known_hosts"), acceptUnknown: true))
        try await accepted.put("a_b_20240101_000000.tar.gz", from: file)
        #expect(try await accepted.list().map(\.key) == ["a_b_20240101_000000.tar.gz"])
        var info = stat()
        stat(try servers.value("BACKUPKIT_SFTP_DIR") + "/hostkey/a_b_20240101_000000.tar.gz", &info)
        #expect(info.st_mode & 0o777 == 0o600, "artifacts are private on the server too")
        try await accepted.delete("a_b_20240101_000000.tar.gz")
    }
}
