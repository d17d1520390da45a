import BackupKit
import Foundation
import Glibc
import Testing

/// The service `backupctl install systemd` writes: sandboxed (writable only where the plan writes),
/// run as an unprivileged user, running an installed binary, never a build folder's.
@Suite struct SystemdUnitsTests {
    /// A plan with two local sinks and its own staging and state directories, none under /tmp (which
    /// the service sees as its private one, so they would be left out).
    static func workspace(_ label: String) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeFile(dir.sub("data/readme.txt"), "backup me\n")
        try writeFile(dir.sub("backup.yml"), """
        name: hardened
        sources:
          - { name: files, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: /var/backups/hardened }
          - { name: second, type: local, path: /srv/second-copy }
        staging_dir: /var/cache/backupctl-staging
        state_dir: /var/lib/backupctl
        """)
        return dir
    }

    static func text(_ path: String) -> String { String(decoding: readFile(path) ?? [], as: UTF8.self) }

    static func lines(_ unit: String, _ key: String) -> [String] {
        unit.split(separator: "\n").filter { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test func theServiceIsSandboxedToThePlansDirectories() throws {
        let dir = try Self.workspace("systemd-hardening")
        defer { dir.remove() }
        let result = try backupctl(["install", "systemd", "--prefix", dir.sub("root"), "--backupctl", "/usr/bin/backupctl"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        let service = Self.text(dir.sub("root/etc/systemd/system/backup.service"))
        #expect(Self.lines(service, "ExecStart") == ["/usr/bin/backupctl run --config \(dir.sub("backup.yml"))"])
        #expect(Self.lines(service, "User") == ["backup"])
        #expect(Self.lines(service, "ProtectSystem") == ["strict"])
        #expect(Set(Self.lines(service, "ReadWritePaths")) == ["/var/backups/hardened", "/srv/second-copy", "/var/cache/backupctl-staging", "/var/lib/backupctl"])
        #expect(Self.lines(service, "ReadWritePaths").count == 4, "each directory once")
        #expect(Self.lines(service, "NoNewPrivileges") == ["yes"])
        #expect(Self.lines(service, "PrivateTmp") == ["yes"])
        #expect(Self.lines(service, "CapabilityBoundingSet") == [""], "an unprivileged user keeps no capabilities")
        // What a run needs stays open: sockets for PostgreSQL, S3, SFTP and SMTP; no PrivateNetwork.
        #expect(Self.lines(service, "RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6"])
        #expect(Self.lines(service, "PrivateNetwork").isEmpty && Self.lines(service, "IPAddressDeny").isEmpty)
        #expect(Self.lines(service, "EnvironmentFile").isEmpty, "the plan is a file, not the environment")

        let root = try backupctl(["install", "systemd", "--print", "--backupctl", "/usr/bin/backupctl", "--user", "root"], in: dir.path)
        #expect(Self.lines(root.stdout, "User") == ["root"])
        #expect(Self.lines(root.stdout, "CapabilityBoundingSet") == ["CAP_DAC_READ_SEARCH"], "root keeps only reading every file")
    }

    /// The state directory is inside a sink's: one ReadWritePaths= covers both, and a staging
    /// directory under /tmp is left to PrivateTmp= (naming it would fail: it does not exist yet).
    @Test func nestedAndTemporaryDirectoriesAreNotListedTwice() throws {
        let dir = try TemporaryDirectory("systemd-nested")
        defer { dir.remove() }
        try writeFile(dir.sub("backup.yml"), """
        sources: [{ name: files, type: directory, path: ./data }]
        sinks: [{ name: local, type: local, path: /var/backups/nested/ }]
        state_dir: /var/backups/nested/state
        staging_dir: /tmp/backupctl-staging
        """)
        let result = try backupctl(["install", "systemd", "--print", "--backupctl", "/usr/bin/backupctl"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.lines(result.stdout, "ReadWritePaths") == ["/var/backups/nested"])
        #expect(!result.stderr.contains("warning"), "staging in the private /tmp is fine: \(result.stderr)")
    }

    /// A sink under /tmp would fill the service's private /tmp, which is emptied after every run.
    @Test func aSinkUnderTmpIsWarnedAbout() throws {
        let dir = try TemporaryDirectory("systemd-tmp-sink")
        defer { dir.remove() }
        try writeFile(dir.sub("backup.yml"), """
        sources: [{ name: files, type: directory, path: ./data }]
        sinks: [{ name: local, type: local, path: /tmp/backups-here }]
        """)
        let result = try backupctl(["install", "systemd", "--print", "--backupctl", "/usr/bin/backupctl"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning") && result.stderr.contains("/tmp/backups-here") && result.stderr.contains("PrivateTmp"), "\(result.stderr)")
        #expect(Self.lines(result.stdout, "ReadWritePaths").isEmpty)
    }

    @Test func aBinaryInABuildFolderIsRefused() throws {
        let dir = try Self.workspace("systemd-buildfolder")
        defer { dir.remove() }
        #expect(backupctlPath.contains("/.build"), "this test runs the build folder's backupctl: \(backupctlPath)")
        let result = try backupctl(["install", "systemd", "--prefix", dir.sub("root")], in: dir.path)
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("inside a build folder") && result.stderr.contains("--backupctl PATH"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("root")), "nothing is written")
        let cron = try backupctl(["install", "cron", "--print"], in: dir.path)
        #expect(cron.status == 2 && cron.stdout.isEmpty, "the cron job is refused too: \(cron.stdout)")
        // Named explicitly, it is the operator's choice.
        let named = try backupctl(["install", "systemd", "--print", "--binary", backupctlPath], in: dir.path)
        #expect(named.status == 0 && Self.lines(named.stdout, "ExecStart").first?.hasPrefix(backupctlPath + " run ") == true, "\(named.stdout)")
    }

    /// A plan from environment variables: the service reads them from an EnvironmentFile= (mode 0600,
    /// written from the installer's environment, kept if it exists) in the installer's directory.
    @Test func anEnvironmentPlanGetsAnEnvironmentFile() throws {
        let dir = try TemporaryDirectory("systemd-env")
        defer { dir.remove() }
        try writeFile(dir.sub("data/readme.txt"), "backup me\n")
        let secret = "pw-\(UUID().uuidString)"
        let environment = ["BACKUP_SOURCE_DIRS": "files=\(dir.sub("data"))", "BACKUP_DIR": "/var/backups/env-plan", "PGPASSWORD": secret,
                           "BACKUP_ENCRYPTION_PASSPHRASE": "never-copied"]
        let printed = try backupctl(["install", "systemd", "--print", "--backupctl", "/usr/bin/backupctl"], in: dir.path, environment: environment)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(Self.lines(printed.stdout, "EnvironmentFile") == ["/etc/backupctl/backup.env"])
        #expect(Self.lines(printed.stdout, "WorkingDirectory") == [dir.path])
        #expect(Self.lines(printed.stdout, "ReadWritePaths") == ["/var/backups/env-plan"])
        #expect(printed.stdout.contains("PGPASSWORD=\"***\"") && !printed.stdout.contains(secret), "--print masks secrets: \(printed.stdout)")

        let written = try backupctl(["install", "systemd", "--prefix", dir.sub("root"), "--unit", "nightly", "--backupctl", "/usr/bin/backupctl"],
                                    in: dir.path, environment: environment)
        #expect(written.status == 0, "\(written.stderr)")
        let service = Self.text(dir.sub("root/etc/systemd/system/nightly.service"))
        #expect(Self.lines(service, "EnvironmentFile") == ["/etc/backupctl/nightly.env"])
        let file = dir.sub("root/etc/backupctl/nightly.env")
        let contents = Self.text(file)
        #expect(contents.contains("PGPASSWORD=\"\(secret)\"") && contents.contains("BACKUP_DIR=\"/var/backups/env-plan\""), "\(contents)")
        #expect(!contents.contains("never-copied") && !contents.contains("BACKUP_CONFIG"), "a backup never needs the passphrase: \(contents)")
        var info = stat()
        stat(file, &info)
        #expect(info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")

        try writeFile(file, "BACKUP_DIR=/edited\n", mode: 0o600)
        let again = try backupctl(["install", "systemd", "--prefix", dir.sub("root"), "--unit", "nightly", "--backupctl", "/usr/bin/backupctl"],
                                  in: dir.path, environment: environment)
        #expect(again.status == 0 && again.stdout.contains("kept"), "\(again.stdout)")
        #expect(Self.text(file) == "BACKUP_DIR=/edited\n", "an existing environment file is the operator's")
    }

    /// systemd's own rating of the sandbox: below 5 ("OK" starts at 4.9; an unhardened service is 9.6).
    @Test func systemdRatesTheServiceBelowFive() throws {
        let analyze = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze is missing: scripts/install-deps installs systemd")
        let dir = try Self.workspace("systemd-security")
        defer { dir.remove() }
        #expect(try backupctl(["install", "systemd", "--prefix", dir.sub("root"), "--backupctl", "/usr/bin/backupctl"], in: dir.path).status == 0)
        let service = dir.sub("root/etc/systemd/system/backup.service")
        let result = try runProcess(analyze, ["security", "--offline=true", "--no-pager", service])
        let summary = try #require(result.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }, "\(result.stdout)\(result.stderr)")
        let score = try #require(summary.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(summary)")
        #expect(score < 5, "\(summary)")
        // The same command rates a service without the sandbox far higher, so the number is the sandbox's.
        try writeFile(service, Self.text(service).split(separator: "\n").prefix { !$0.hasPrefix("# Sandbox") }.joined(separator: "\n") + "\n")
        let bare = try runProcess(analyze, ["security", "--offline=true", "--no-pager", service])
        let bareSummary = try #require(bare.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }, "\(bare.stdout)\(bare.stderr)")
        let bareScore = try #require(bareSummary.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(bareScore > 9, "\(bareSummary)")
    }
}
