import BackupKit
import Foundation
import Testing

/// Every secret can come from a file: `NAME_FILE` when `NAME` is not set.
@Suite struct EnvironmentFilesTests {
    @Test func secretsComeFromFilesInPlanFilesAndEnvironmentPlans() throws {
        let dir = try TemporaryDirectory("env-files")
        defer { dir.remove() }
        try writeFile(dir.sub("secrets/webhook"), "https://hooks.example.com/T000/secret-token\n", mode: 0o600)
        try writeFile(dir.sub("secrets/token"), "s3cr3t-from-a-file\n", mode: 0o600)
        try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
        let registry = standardRegistry()
        // An environment-only plan: BACKUP_ALERT_WEBHOOK_URL_FILE gives the webhook's URL.
        let environment = ["BACKUP_DIR": dir.sub("backups"), "BACKUP_SOURCE_DIRS": dir.sub("data"),
                           "BACKUP_ALERT_WEBHOOK_URL_FILE": dir.sub("secrets/webhook")]
        let plan = try PlanLoader(registry: registry, environment: environment).loadFromEnvironment(currentDirectory: dir.path)
        #expect(plan.notifiers.map(\.name) == ["webhook"], "\(plan.notifiers.map(\.name))")
        // A plan file's ${NAME} reads NAME_FILE when NAME is unset.
        let yaml = """
        name: files
        sources:
          - { name: data, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: ./backups }
        notify:
          - { name: hook, type: webhook, url: "https://hooks.example.com/x", headers: { Authorization: "Bearer ${API_TOKEN}" } }
        """
        try writeFile(dir.sub("backup.yml"), yaml)
        let printed = try backupctl(["config", "print", "--log-level", "error"], in: dir.path, environment: ["API_TOKEN_FILE": dir.sub("secrets/token")])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(!printed.stdout.contains("s3cr3t") && printed.stdout.contains("***"), "masked, as any secret: \(printed.stdout)")
        let loaded = try PlanLoader(registry: registry, environment: ["API_TOKEN_FILE": dir.sub("secrets/token")])
            .effectiveJSON(file: dir.sub("backup.yml"))
        #expect("\(loaded)".contains("***") && !"\(loaded)".contains("${API_TOKEN}"), "\(loaded)")
        // Without the variable or its file the plan says what is missing; a missing file names itself.
        let missing = try backupctl(["config", "check"], in: dir.path, environment: ["API_TOKEN_FILE": dir.sub("secrets/nope")])
        #expect(missing.status == 6 && missing.stderr.contains("API_TOKEN_FILE=\(dir.sub("secrets/nope")): there is no such file"), "\(missing.stderr)")
        // The variable itself wins over its file.
        let direct = PlanLoader(registry: registry, environment: ["API_TOKEN": "direct", "API_TOKEN_FILE": dir.sub("secrets/nope")])
        #expect(throws: Never.self) { _ = try direct.load(file: dir.sub("backup.yml")) }
    }
}
