@testable import BackupKit
import BackupSinks
import BackupSources
import Testing
import Yams

@Suite struct PlanLoaderTests {
    static let example = """
    name: schedgen
    sources:
      - name: minio
        type: directory
        path: /srv/minio/data
        subject: schedgen-pdfs
        exclude: [".minio.sys/tmp/**"]
      - name: config
        type: files
        paths: [/srv/schedgen/.env, /srv/schedgen/docker-compose.yml]
    archive: { format: tar.gz, level: 6 }
    sinks:
      - { name: local, type: local, path: ./backups }
    retention: { keep_daily: 7, keep_weekly: 4, keep_monthly: 12 }
    verify: { min_size: 1KiB, max_shrink_percent: 50 }
    """

    func load(_ yaml: String, environment: [String: String] = [:]) throws -> BackupPlan {
        try PlanLoader(registry: standardRegistry(), environment: environment).load(yaml: yaml, origin: "backup.yml", baseDirectory: "/etc/backup")
    }

    func message(_ yaml: String, environment: [String: String] = [:]) -> String {
        do {
            _ = try load(yaml, environment: environment)
            return "loaded"
        } catch let error as BackupError {
            #expect(error.code == .invalidPlan)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func theIssueExampleIsValid() throws {
        let plan = try load(Self.example)
        #expect(plan.name == "schedgen")
        #expect(plan.sources.map(\.source.name) == ["minio", "config"])
        let minio = try #require(plan.sources[0].source as? DirectorySource)
        #expect(minio.configuration.path == "/srv/minio/data")
        #expect(minio.configuration.subject == "schedgen-pdfs")
        #expect(minio.configuration.exclude == [".minio.sys/tmp/**"])
        let local = try #require(plan.sinks.first as? LocalSink)
        #expect(local.directory == "/etc/backup/backups", "relative paths resolve against the plan's directory")
        #expect(plan.archive == ArchiveSettings(compression: .gzip, level: 6))
        #expect(plan.retention == RetentionPolicy(keepDaily: 7, keepWeekly: 4, keepMonthly: 12))
        #expect(plan.verification.minSize == ByteSize(1024) && plan.verification.maxShrinkPercent == 50)
    }

    @Test func misspelledKeyNamesLineKeyAndSuggestion() {
        let text = message(Self.example.replacingOccurrences(of: "exclude:", with: "exlude:"))
        #expect(text.hasPrefix("backup.yml:7: sources[0].exlude: unknown key 'exlude' (did you mean 'exclude'?)"), "\(text)")
        let retention = message(Self.example.replacingOccurrences(of: "keep_daily", with: "keep_dialy"))
        #expect(retention.hasPrefix("backup.yml:14: retention.keep_dialy: unknown key"), "\(retention)")
        #expect(retention.contains("did you mean 'keep_daily'"))
    }

    @Test func yamlSyntaxErrorNamesTheLine() {
        let text = message(Self.example.replacingOccurrences(of: "archive: { format: tar.gz, level: 6 }", with: "archive: { format: tar.gz, level: 6"))
        #expect(text.hasPrefix("backup.yml:12:"), "the parser notices the unclosed mapping on the next line: \(text)")
        #expect(text.contains("YAML syntax error"))
    }

    @Test func unsetVariableNamesTheLineAndTheVariable() {
        let yaml = Self.example.replacingOccurrences(of: "path: /srv/minio/data", with: "path: ${MINIO_DATA}")
        let text = message(yaml)
        #expect(text.hasPrefix("backup.yml:5: the environment variable MINIO_DATA is not set"), "\(text)")
        let plan = try? load(yaml, environment: ["MINIO_DATA": "/data/minio"])
        #expect((plan?.sources[0].source as? DirectorySource)?.configuration.path == "/data/minio")
    }

    @Test func defaultsAndEscapes() throws {
        let yaml = Self.example
            .replacingOccurrences(of: "path: /srv/minio/data", with: "path: ${MINIO_DATA:-/srv/default}")
            .replacingOccurrences(of: "subject: schedgen-pdfs", with: "subject: cost-$$5")
        let plan = try load(yaml)
        let minio = try #require(plan.sources[0].source as? DirectorySource)
        #expect(minio.configuration.path == "/srv/default")
        #expect(minio.configuration.subject == "cost-$5")
    }

    @Test func wrongTypesAndUnknownComponentTypes() {
        #expect(message(Self.example.replacingOccurrences(of: "level: 6", with: "level: six")).hasPrefix("backup.yml:11: archive.level:"))
        #expect(message(Self.example.replacingOccurrences(of: "level: 6", with: "level: 12")).contains("out of range"))
        let unknown = message(Self.example.replacingOccurrences(of: "type: directroy", with: "x").replacingOccurrences(of: "type: directory", with: "type: directroy"))
        #expect(unknown.hasPrefix("backup.yml:4: sources[0].type: unknown source type 'directroy' (did you mean 'directory'?)"), "\(unknown)")
        #expect(message(Self.example.replacingOccurrences(of: "min_size: 1KiB", with: "min_size: lots")).contains("is not a size"))
    }

    @Test func duplicateNamesAndMissingSections() {
        #expect(message(Self.example.replacingOccurrences(of: "name: config", with: "name: minio")).contains("used twice"))
        #expect(message("name: x\nsinks:\n  - { name: local, type: local }\n").contains("at least one source"))
        #expect(message("").contains("empty"))
    }

    @Test func environmentOnlyPlan() throws {
        let loader = PlanLoader(registry: standardRegistry(), environment: [
            "BACKUP_DIR": "/var/backups/app", "BACKUP_RETENTION_DAYS": "14",
            "BACKUP_SOURCE_DIRS": "minio=/srv/minio/data,/srv/uploads", "BACKUP_CONFIG_FILES": "/srv/app/.env",
        ])
        let plan = try loader.loadFromEnvironment(currentDirectory: "/")
        #expect(plan.sources.map(\.source.name) == ["minio", "uploads", "config"])
        #expect((plan.sinks.first as? LocalSink)?.directory == "/var/backups/app")
        #expect(plan.retention == RetentionPolicy(keepDaily: 14))
        let empty = PlanLoader(registry: standardRegistry(), environment: [:])
        #expect(throws: BackupError.self) { try empty.loadFromEnvironment() }
    }

    @Test func anAliasBombOrAHugeFileIsRefusedAtOnce() throws {
        var lines = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        for level in 1...16 { lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ",") + "]") }
        lines += ["sources: [{ name: data, type: directory, path: ./data }]", "sinks: [{ name: local, type: local, path: ./backups }]"]
        let loader = PlanLoader(registry: standardRegistry(), environment: [:])
        let bomb = #expect(throws: BackupError.self) { try loader.load(yaml: lines.joined(separator: "\n"), origin: "backup.yml", baseDirectory: "/") }
        #expect(bomb?.code == .invalidPlan && bomb?.message.contains("alias") == true, "\(String(describing: bomb))")
        let huge = #expect(throws: BackupError.self) {
            try loader.load(yaml: "# " + String(repeating: "x", count: 2 << 20), origin: "backup.yml", baseDirectory: "/")
        }
        #expect(huge?.message.contains("at most 1024 KiB") == true, "\(String(describing: huge))")
    }

    @Test func aLocalSinkPathThatIsEmptyOrAFileIsAPlanError() throws {
        let dir = try TemporaryDirectory("sink-path")
        defer { dir.remove() }
        try writeFile(dir.sub("afile"), "not a directory")
        let loader = PlanLoader(registry: standardRegistry(), environment: [:])
        for (path, expected) in [("\"\"", "the path is empty"), ("./afile", "is a file, not a directory")] {
            let error = #expect(throws: BackupError.self) {
                try loader.load(yaml: """
                    sources: [{ name: data, type: directory, path: ./data }]
                    sinks:
                      - { name: local, type: local, path: \(path) }
                    """, origin: "backup.yml", baseDirectory: dir.path)
            }
            #expect(error?.code == .invalidPlan && error?.message.hasPrefix("backup.yml:3: sinks[0].path:") == true && error?.message.contains(expected) == true,
                    "\(String(describing: error))")
        }
    }

    @Test func requireAllSinksIsOffUnlessThePlanSaysSo() throws {
        #expect(try load(Self.example).requireAllSinks == false)
        let yaml = "require_all_sinks: true\n" + Self.example
        #expect(try load(yaml).requireAllSinks == true)
        #expect(message("require_all_sinks: sometimes\n" + Self.example).hasPrefix("backup.yml:1: require_all_sinks:"))
        let dir = try TemporaryDirectory("require-all-sinks")
        defer { dir.remove() }
        try writeFile(dir.sub("backup.yml"), yaml)
        let printed = try PlanLoader(registry: standardRegistry()).effectiveYAML(file: dir.sub("backup.yml"))
        let position = { (key: String) in printed.range(of: "\n\(key):")?.lowerBound }
        let (sinks, required, archive) = (try #require(position("sinks")), try #require(position("require_all_sinks")), try #require(position("archive")))
        #expect(sinks < required && required < archive, "config print puts it after the sinks: \(printed)")
    }

    @Test func configPrintMasksSecrets() throws {
        let yaml = Self.example + "\n" + "notes_password: ${PW}\nstaging_dir: /tmp/s\n"
        let loader = PlanLoader(registry: standardRegistry(), environment: ["PW": "hunter22"])
        // An unknown top-level key is refused.
        #expect(throws: BackupError.self) { try loader.load(yaml: yaml, origin: "p", baseDirectory: "/") }
        // What is masked is what the components decode as secrets, whatever the key is called.
        let dir = try TemporaryDirectory("config-print")
        defer { dir.remove() }
        try writeFile(dir.sub("backup.yml"), """
            sources:
              - { name: db, type: postgres, database: app, host: db, user: app, password: "${PW}" }
            sinks:
              - { name: offsite, type: s3, endpoint: "https://s3.example.com", bucket: app-backups, access_key: AKIAEXAMPLE, secret_key: "${PW}" }
            heartbeat_url: https://hc-ping.com/hunter22-uuid
            notify:
              - { name: slack, type: webhook, style: slack, url: "https://hooks.slack.com/services/T/B/hunter22" }
              - { name: hook, type: webhook, url: "https://hooks.example.com/in", headers: { X-Auth: hunter22 } }
              - { name: mail, type: smtp, url: "smtp://smtp.example.com:587", username: ops, password: "${PW}", from: a@example.com, to: [b@example.com] }
            """)
        let text = try loader.effectiveYAML(file: dir.sub("backup.yml"))
        #expect(!text.contains("hunter22"), "\(text)")
        #expect(text.contains("https://s3.example.com"), "URLs that are not secrets stay readable")
        #expect(text.contains("app-backups") && text.contains("smtp.example.com:587") && text.contains("username: ops"), "\(text)")
        #expect(!text.contains("AKIAEXAMPLE") && !text.contains("hooks.example.com"), "access keys and webhook URLs are secrets: \(text)")
        #expect(text.contains("password: '***'") || text.contains("password: \"***\""), "\(text)")
        #expect(text.contains("X-Auth: '***'") || text.contains("X-Auth: \"***\""), "a header is masked by its type, not its name: \(text)")

        // Secrets that reach a component through a YAML merge key.
        try writeFile(dir.sub("merged.yml"), """
            sources:
              - { name: data, type: directory, path: ./data }
            sinks:
              - &offsite { name: a, type: s3, endpoint: "https://s3.example.com", bucket: app-backups, access_key: AKIAEXAMPLE, secret_key: "${PW}" }
              - { <<: *offsite, name: b, prefix: other/ }
            notify:
              - { name: hook, type: webhook, url: "https://hooks.example.com/in", headers: { Authorization: "Bearer hunter22" } }
            """)
        let merged = try loader.effectiveYAML(file: dir.sub("merged.yml"))
        #expect(!merged.contains("hunter22") && !merged.contains("AKIAEXAMPLE"), "\(merged)")
        #expect(merged.contains("other/"), "\(merged)")
    }

    @Test func aPostgresSourceWaitsFiveMinutesForATableLockUnlessTheLockWaitTimeoutSaysOtherwise() throws {
        let yaml = """
        sources:
          - name: db
            type: postgres
            host: db
        sinks:
          - { name: local, type: local, path: ./backups }
        """
        func timeout(_ yaml: String) throws -> PlanDuration {
            try #require(try load(yaml).sources.first?.source as? PostgresSource).configuration.lockWaitTimeout
        }
        func set(_ value: String) -> String { yaml.replacingOccurrences(of: "host: db", with: "host: db\n    lock_wait_timeout: \(value)") }
        #expect(try timeout(yaml) == PlanDuration(seconds: 300))
        #expect(try timeout(set("90s")) == PlanDuration(seconds: 90))
        #expect(try timeout(set("1.5")) == PlanDuration(seconds: 1.5))
        #expect(try timeout(set("24h")) == PlanDuration(seconds: 86400))
        for value in ["0", "0.5s", "25h"] {
            let text = message(set(value))
            #expect(text.hasPrefix("backup.yml:5: sources[0].lock_wait_timeout: must be between 1s and 24h"), "\(value): \(text)")
        }
        let unparsed = message(set("soon"))
        #expect(unparsed.hasPrefix("backup.yml:5: sources[0].lock_wait_timeout:") && unparsed.contains("is not a duration"), "\(unparsed)")
    }
}

@Suite struct RedactionTests {
    @Test func passwordsInURLsAreMaskedWhateverTheyHold() {
        for (url, secret) in [("postgres://app:s3cret@db:5432/x", "s3cret"), ("postgres://app:p#ss/x@db:5432/x", "p#ss/x"),
                              ("smtp://user:a@b@smtp.example.com:587", "a@b"), ("see https://u:pw?x@host/path and more", "pw?x")] {
            let redacted = Redaction.redactURLCredentials(url)
            #expect(!redacted.contains(secret), "\(redacted)")
            #expect(redacted.contains(":***@"), "\(redacted)")
        }
        #expect(Redaction.redactURLCredentials("https://hooks.example.com/a/b") == "https://hooks.example.com/a/b")
        #expect(Redaction.redactURLPath("https://hooks.slack.com/services/T/B/XYZ") == "https://hooks.slack.com/…")
    }

    @Test func anUnparseableDatabaseURLIsNotEchoed() {
        do {
            _ = try PostgresConnectionSettings(url: "postgres://app:p#ss@db:5432/x")
            Issue.record("accepted")
        } catch let error as BackupError {
            #expect(!error.message.contains("p#ss") && error.message.contains("Percent-encode"), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func environmentValuesAreTakenLiterally() throws {
        let plan = try PlanLoader(registry: standardRegistry(), environment: [
            "DATABASE_URL": "postgres://app:Pa$$w0rd@db:5432/schedgen", "BACKUP_DIR": "/var/backups/$HOME",
        ]).loadFromEnvironment(currentDirectory: "/")
        let source = try #require(plan.sources.first?.source as? PostgresSource)
        #expect(try source.configuration.connection.password?.reveal() == "Pa$$w0rd")
        #expect((plan.sinks.first as? LocalSink)?.directory == "/var/backups/$HOME")
    }
}
