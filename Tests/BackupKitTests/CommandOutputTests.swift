import BackupKit
import Foundation
import Testing

/// What scripts read: every command's `--json` output matches its documented schema (docs/json, checked
/// by the `jsonschema` package, not by us), errors are JSON too, usage errors exit 2, an invalid log
/// level is refused, and `config print` prints the same text every time.
@Suite struct CommandOutputTests {
    static let schemaDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/json").path

    /// Validates `output` against docs/json/`schema`.schema.json with Python's jsonschema; returns the
    /// validator's complaint, or nil when it passes.
    static func violation(of schema: String, in output: String) throws -> String? {
        let python = TestServers.directory + "/venv/bin/python3"
        let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        try:
            document = json.loads(sys.stdin.read())
            jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
        except Exception as error:
            print(str(error).splitlines()[0]); sys.exit(1)
        """
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("schema-input-\(UUID().uuidString)").path
        try writeFile(input, output)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try runProcess("/bin/sh", ["-c", "exec \"$0\" -c \"$1\" \"$2\" < \"$3\"", python, script,
                                                "\(schemaDirectory)/\(schema).schema.json", input])
        return result.status == 0 ? nil : result.stdout + result.stderr
    }

    func workspace() throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory("json-output")
        try writeFile(dir.sub("data/readme.txt"), "hello\n")
        try writeFile(dir.sub("data/sub/more.txt"), String(repeating: "more ", count: 100))
        let generated = try backupctl(["key", "generate", "--output", "team.key", "--json"], in: dir.path)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(try Self.violation(of: "key-generate", in: generated.stdout) == nil)
        let recipient = try #require((try JSONSerialization.jsonObject(with: Data(generated.stdout.utf8)) as? [String: Any])?["recipient"] as? String)
        let http = try TestHTTPReceiver.load()
        try writeFile(dir.sub("backup.yml"), """
        name: jsonout
        sources:
          - { name: files, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: ./backups }
          - { name: sealed, type: local, path: ./sealed, encryption: { recipients: [\(recipient)] } }
        notify:
          - { name: hook, type: webhook, url: "\(http.url)\(TestHTTPReceiver.uniquePath("json-output"))" }
        retention: { keep_last: 5 }
        """)
        return (dir, recipient)
    }

    @Test func everyCommandsJSONMatchesItsSchema() throws {
        let (dir, _) = try workspace()
        defer { dir.remove() }
        let newKey = try backupctl(["key", "generate", "--output", "new.key", "--json"], in: dir.path)
        let newRecipient = try #require((try JSONSerialization.jsonObject(with: Data(newKey.stdout.utf8)) as? [String: Any])?["recipient"] as? String)
        let commands: [(schema: String, arguments: [String], status: Int32)] = [
            ("run", ["run"], 0),
            ("list", ["list"], 0),
            ("verify", ["verify", "--latest", "--identity", "team.key"], 0),
            ("restore", ["restore", "--latest", "--sink", "local", "--to", "restored"], 0),
            ("prune", ["prune", "--dry-run"], 0),
            ("status", ["status"], 0),
            ("config-check", ["config", "check"], 0),
            ("config-print", ["config", "print"], 0),
            ("notify", ["notify", "test"], 0),
            ("key", ["key"], 0),
            ("key-rekey", ["key", "rekey", "--sink", "sealed", "--identity", "team.key", "--recipient", newRecipient], 0),
            ("verify", ["verify", "--set", "20200101_000000"], 9),
            ("error", ["restore", "--latest", "--to", "restored"], 8),
            ("error", ["list", "--no-such-option"], 2),
        ]
        for command in commands {
            let result = try backupctl(command.arguments + ["--json"], in: dir.path)
            #expect(result.status == command.status, "\(command.arguments): exit \(result.status): \(result.stderr)")
            #expect(try Self.violation(of: command.schema, in: result.stdout) == nil, "\(command.arguments): \(result.stdout)")
        }
        let missing = try backupctl(["verify", "--set", "20200101_000000", "--json", "--sink", "local"], in: dir.path)
        let errors = (try JSONSerialization.jsonObject(with: Data(missing.stdout.utf8)) as? [String: Any])?["errors"] as? [[String: Any]]
        #expect(errors?.first?["code"] as? String == "not_found" && errors?.first?["sink"] as? String == "local", "\(missing.stdout)")
        // The same names everywhere: a set's timestamp is `timestamp`, an artifact's name is `name`.
        let run = try backupctl(["run", "--json"], in: dir.path)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let timestamp = try #require(report["timestamp"] as? String)
        let list = try backupctl(["list", "--json", "--sink", "local"], in: dir.path).stdout
        let newest = try #require(((try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?["sinks"] as? [[String: Any]])?.first?["sets"] as? [[String: Any]])
        #expect(newest.first?["timestamp"] as? String == timestamp)
        let names = (newest.first?["artifacts"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == (report["artifacts"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, "\(list)")
    }

    /// The check above must be able to fail: an output with the old key names is refused.
    @Test func theSchemasRefuseTheOldKeyNames() throws {
        #expect(try Self.violation(of: "run", in: #"{"schema": "backupctl.run.v1", "plan": "p", "set": "20240101_000000", "status": "succeeded", "started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:00:00Z", "artifacts": [], "sinks": []}"#) != nil)
        #expect(try Self.violation(of: "restore", in: #"{"schema": "backupctl.restore.v1", "artifacts": [{"artifact": "a", "destination": "d", "entries": 1, "bytes": 1}]}"#) != nil)
        #expect(try Self.violation(of: "list", in: #"[{"sink": "local", "sets": []}]"#) != nil)
    }

    @Test func usageErrorsExit2AndAreJSONWithJSON() throws {
        let (dir, _) = try workspace()
        defer { dir.remove() }
        for arguments in [["frobnicate"], ["list", "--no-such-option"], ["restore", "--latest"], ["verify", "--latest", "--all"], ["status", "--max-age", "soon"]] {
            let result = try backupctl(arguments, in: dir.path)
            #expect(result.status == 2, "\(arguments): exit \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty && result.stderr.contains("Error:"), "\(arguments): \(result.stdout)")
            let json = try backupctl(arguments + ["--json"], in: dir.path)
            #expect(json.status == 2)
            let error = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "usage" && error?["exit_code"] as? Int == 2 && (error?["message"] as? String)?.isEmpty == false,
                    "\(arguments): \(json.stdout)")
        }
    }

    @Test func anInvalidLogLevelIsAnError() throws {
        let (dir, _) = try workspace()
        defer { dir.remove() }
        let flag = try backupctl(["list", "--log-level", "loud"], in: dir.path)
        #expect(flag.status == 2 && flag.stderr.contains("--log-level loud") && flag.stderr.contains("debug"), "\(flag.stderr)")
        let variable = try backupctl(["list"], in: dir.path, environment: ["BACKUP_LOG_LEVEL": "verbose"])
        #expect(variable.status == 2 && variable.stderr.contains("BACKUP_LOG_LEVEL verbose"), "\(variable.stderr)")
        let valid = try backupctl(["list", "--log-level", "DEBUG"], in: dir.path)
        #expect(valid.status == 0, "\(valid.stderr)")
    }

    /// `--log-level debug` shows each phase of a run and each sink call, on stderr: stdout stays the
    /// JSON report alone. At the default level a good run logs nothing.
    @Test func debugLoggingShowsPhasesAndSinkCallsOnStderr() throws {
        let (dir, _) = try workspace()
        defer { dir.remove() }
        let quiet = try backupctl(["run", "--json"], in: dir.path)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let debug = try backupctl(["run", "--json", "--log-level", "debug"], in: dir.path)
        #expect(debug.status == 0)
        #expect(try Self.violation(of: "run", in: debug.stdout) == nil, "stdout holds only the report: \(debug.stdout.prefix(300))")
        for expected in ["operation=list sink=local", "operation=put sink=sealed", "sink call done", "event=started(", "event=verified(",
                         "event=stored(", "event=manifestWritten(", "run finished"] {
            #expect(debug.stderr.contains(expected), "\(expected) in:\n\(debug.stderr.prefix(2000))")
        }
        let restore = try backupctl(["restore", "--latest", "--sink", "local", "--to", "restored", "--log-level", "debug"], in: dir.path)
        #expect(restore.status == 0 && restore.stderr.contains("operation=get sink=local"), "\(restore.stderr.prefix(2000))")
    }

    @Test func configPrintIsTheSameEveryTimeWithNumbersAsWritten() throws {
        let dir = try TemporaryDirectory("config-print")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
        // A plan from the environment is built from several variables: its order must not vary.
        let environment = ["BACKUP_DIR": dir.sub("backups"), "BACKUP_SOURCE_DIRS": dir.sub("data"), "BACKUP_RETENTION_DAYS": "7",
                           "BACKUP_CONFIG_FILES": dir.sub("data"), "BACKUP_NAME": "envplan"]
        var printed = Set<String>()
        for _ in 0..<6 {
            let result = try backupctl(["config", "print"], in: dir.path, environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            printed.insert(result.stdout)
        }
        #expect(printed.count == 1, "config print differed between runs:\n\(printed.joined(separator: "\n---\n"))")
        let text = try #require(printed.first)
        #expect(text.hasPrefix("name: envplan\nsources:"), "the top level follows the documented order: \(text)")
        #expect(text.contains("max_shrink_percent: 90\n") && !text.contains("e+"), "numbers as written: \(text)")
        #expect(!text.contains("\"sources\""), "keys unquoted: \(text)")

        try writeFile(dir.sub("backup.yml"), """
        state_dir: ./state
        retention: { keep_daily: 7, keep_weekly: 4 }
        verify: { max_shrink_percent: 12.5, min_size: 1 KiB }
        sinks:
          - { name: local, type: local, path: ./backups }
        sources:
          - { name: files, type: directory, path: ./data }
        name: written
        """)
        let yaml = try backupctl(["config", "print"], in: dir.path)
        #expect(yaml.stdout.hasPrefix("name: written\nsources:") && yaml.stdout.contains("max_shrink_percent: 12.5"), "\(yaml.stdout)")
        let json = try backupctl(["config", "print", "--json"], in: dir.path)
        #expect(try Self.violation(of: "config-print", in: json.stdout) == nil, "\(json.stdout)")
        let plan = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["plan"] as? [String: Any]
        #expect((plan?["verify"] as? [String: Any])?["max_shrink_percent"] as? Double == 12.5)
        #expect((plan?["retention"] as? [String: Any])?["keep_weekly"] as? Int == 4)
        #expect(plan?["name"] as? String == "written")
    }
}
