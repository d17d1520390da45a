import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import BackupTransport
import Foundation
import Testing

/// How the plan file and the environment combine: the alert variables add notifiers to a plan's own
/// (unless `notify: { env: false }`), `config check` says where each setting came from, and the
/// environment alone describes the design document's whole setup, MinIO bucket and off-site copy included.
struct EnvironmentPlanTests {
    static let plan = """
    name: schedgen
    sources:
      - { name: etc, type: directory, path: ./data }
    sinks:
      - { name: local, type: local, path: ./backups }
    notify:
      - { name: ops, type: webhook, url: "http://127.0.0.1:9/ops" }
    """

    func notifierNames(_ yaml: String, _ environment: [String: String]) throws -> [String] {
        try PlanLoader(registry: standardRegistry(), environment: environment)
            .load(yaml: yaml, origin: "backup.yml", baseDirectory: "/srv").notifiers.map(\.name)
    }

    static let alertEnvironment = ["BACKUP_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/abc",
                                   "BACKUP_ALERT_EMAIL": "ops@example.com", "BACKUP_SMTP_URL": "smtp://mail.example.com:587"]

    @Test func theAlertVariablesAddToAPlanFilesNotifiers() throws {
        #expect(try notifierNames(Self.plan, Self.alertEnvironment) == ["ops", "webhook", "email"])
        #expect(try notifierNames(Self.plan, [:]) == ["ops"])
    }

    @Test func notifyEnvFalseKeepsThePlansNotifiersAlone() throws {
        let off = Self.plan.replacingOccurrences(of: "notify:\n  - {", with: "notify:\n  env: false\n  notifiers:\n    - {")
        #expect(off != Self.plan)
        #expect(try notifierNames(off, Self.alertEnvironment) == ["ops"])
        // The mapping form without `env: false` adds them, as the list form does.
        let on = Self.plan.replacingOccurrences(of: "notify:\n  - {", with: "notify:\n  notifiers:\n    - {")
        #expect(try notifierNames(on, Self.alertEnvironment) == ["ops", "webhook", "email"])
        #expect(try notifierNames(Self.plan.components(separatedBy: "notify:")[0] + "notify: { env: false }\n", Self.alertEnvironment).isEmpty)
    }

    @Test func aVariableThePlanReadsItselfIsNotAddedTwice() throws {
        let reads = Self.plan.replacingOccurrences(of: "\"http://127.0.0.1:9/ops\"", with: "\"${BACKUP_ALERT_WEBHOOK_URL}\"")
        #expect(try notifierNames(reads, Self.alertEnvironment) == ["ops", "email"])
        // A plan notifier that already has the name gets the added one beside it, renamed.
        let named = Self.plan.replacingOccurrences(of: "name: ops", with: "name: webhook")
        #expect(try notifierNames(named, Self.alertEnvironment) == ["webhook", "env-webhook", "email"])
    }

    @Test func anIncompleteAlertVariableSaysHowToTurnTheAdditionOff() {
        do {
            _ = try notifierNames(Self.plan, ["BACKUP_ALERT_EMAIL": "ops@example.com"])
            Issue.record("BACKUP_ALERT_EMAIL without BACKUP_SMTP_URL was accepted")
        } catch let error as BackupError {
            #expect(error.message.contains("BACKUP_SMTP_URL"))
            #expect(error.message.contains("notify: { env: false }"))
        } catch {
            Issue.record("\(error)")
        }
    }

    /// The added webhook is a real notifier: a failing run's alert reaches it, and with `env: false` it does not.
    @Test(arguments: [true, false])
    func theAddedWebhookReceivesTheFailureAlert(added: Bool) throws {
        let receiver = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("env-added")
        let dir = try TemporaryDirectory("env-notify")
        defer { dir.remove() }
        var plan = Self.plan.replacingOccurrences(of: "./data", with: "./missing")
        if !added { plan = plan.replacingOccurrences(of: "notify:\n  - {", with: "notify:\n  env: false\n  notifiers:\n    - {") }
        try writeFile(dir.sub("backup.yml"), plan)
        let result = try backupctl(["run"], in: dir.path, environment: ["BACKUP_ALERT_WEBHOOK_URL": receiver.url + path])
        #expect(result.status != 0)
        let requests = receiver.requests(pathPrefix: path)
        #expect(requests.count == (added ? 1 : 0), "\(result.stderr)")
        if added { #expect(requests.first?.text.contains("schedgen") == true) }
    }

    @Test func configCheckSaysWhereEachSettingCameFrom() throws {
        let dir = try TemporaryDirectory("env-origins")
        defer { dir.remove() }
        try writeFile(dir.sub("db-url"), "postgres://app:s3cr3t-pw@db.example.com/schedgen\n", mode: 0o600)
        try writeFile(dir.sub("backup.yml"), """
        name: schedgen
        sources:
          - name: db
            type: postgres
            url: ${DATABASE_URL}
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        let environment = ["DATABASE_URL_FILE": dir.sub("db-url"), "BACKUP_RETENTION_DAYS": "14",
                           "BACKUP_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secret-token"]
        let result = try backupctl(["config", "check", "--json"], in: dir.path, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("s3cr3t-pw") && !result.stdout.contains("secret-token"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let settings = try #require(object["settings"] as? [[String: String]])
        let origins = Dictionary(settings.map { ($0["setting"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(origins["name"]?["from"] == "plan")
        #expect(origins["name"]?["detail"] == "backup.yml:1")
        #expect(origins["sources.db"]?["from"] == "plan")
        #expect(origins["sources.db"]?["detail"] == "backup.yml:3, ${DATABASE_URL} from DATABASE_URL_FILE=\(dir.sub("db-url"))")
        #expect(origins["sinks.local"]?["detail"] == "backup.yml:7")
        #expect(origins["retention"]?["from"] == "environment")
        #expect(origins["retention"]?["detail"] == "BACKUP_RETENTION_DAYS")
        #expect(origins["notify.webhook"]?["from"] == "environment")
        #expect(origins["notify.webhook"]?["detail"]?.hasPrefix("BACKUP_ALERT_WEBHOOK_URL") == true)
        #expect(origins["schedule"]?["from"] == "default")
        #expect(origins["schedule"]?["detail"] == "0 2 * * *")
        #expect(origins["staging_dir"]?["detail"] == dir.sub("backups/.staging"))

        let text = try backupctl(["config", "check"], in: dir.path, environment: environment)
        #expect(text.stdout.contains("where each setting comes from:"))
        #expect(text.stdout.contains(/\n  retention +environment: BACKUP_RETENTION_DAYS\n/), "\(text.stdout)")
    }

    @Test func environmentSettingsSayWhichVariableMadeThem() throws {
        let origins = try PlanLoader(registry: standardRegistry(), environment: [
            "BACKUP_SOURCE_DIRS": "minio:schedgen-pdfs=/srv/minio/data", "BACKUP_NAME": "schedgen", "BACKUP_SCHEDULE": "30 1 * * *",
            "BACKUP_OFFSITE_S3_ENDPOINT": "https://s3.example.com", "BACKUP_OFFSITE_S3_BUCKET": "offsite",
        ]).settingOrigins(file: nil)
        let table = Dictionary(origins.map { ($0.setting, "\($0.kind.rawValue): \($0.detail)") }, uniquingKeysWith: { a, _ in a })
        #expect(table["sources.minio"] == "environment: BACKUP_SOURCE_DIRS")
        #expect(table["sinks.local"] == "default: built in, as BACKUP_DIR is not set")
        #expect(table["sinks.offsite"] == "environment: BACKUP_OFFSITE_S3_ENDPOINT, BACKUP_OFFSITE_S3_BUCKET")
        #expect(table["schedule"] == "environment: BACKUP_SCHEDULE")
        #expect(table["name"] == "environment: BACKUP_NAME")
    }

    @Test func listVariablesNameTheSubjectAndRefuseMalformedItems() throws {
        let loader = PlanLoader(registry: standardRegistry(), environment: [
            "BACKUP_SOURCE_DIRS": "minio:schedgen-pdfs=/srv/minio/data,/srv/uploads", "BACKUP_NAME": "schedgen",
        ])
        let plan = try loader.loadFromEnvironment(currentDirectory: "/")
        let minio = try #require(plan.sources.first { $0.source.name == "minio" }?.source as? DirectorySource)
        #expect(minio.configuration.subject == "schedgen-pdfs")
        let uploads = try #require(plan.sources.first { $0.source.name == "uploads" }?.source as? DirectorySource)
        #expect(uploads.configuration.subject == nil)
        for bad in ["=/srv/data", "minio:=/srv/data", "minio="] {
            #expect(throws: BackupError.self) {
                try PlanLoader(registry: standardRegistry(), environment: ["BACKUP_SOURCE_DIRS": bad]).loadFromEnvironment(currentDirectory: "/")
            }
        }
        let missingBucket = PlanLoader(registry: standardRegistry(), environment: ["BACKUP_SOURCE_DIRS": "/srv/data",
                                                                                    "BACKUP_OFFSITE_S3_ENDPOINT": "https://s3.example.com"])
        #expect(throws: BackupError.self) { try missingBucket.loadFromEnvironment(currentDirectory: "/") }
    }

    /// The design document's setup with no plan file: the database, the MinIO bucket read over S3, a
    /// local directory and an off-site bucket, all from variables, and the seed's file names come out.
    @Test func theEnvironmentAloneBacksUpTheSeedsStackUnderItsFileNames() throws {
        let s3 = try TestS3.load()
        let pg = try TestPostgres.load()
        let database = TestPostgres.uniqueName("schedgen")
        try pg.psql("CREATE DATABASE \(database)")
        defer { pg.dropDatabase(database) }
        try pg.psql("CREATE TABLE jobs (id int PRIMARY KEY, title text); INSERT INTO jobs SELECT g, 'job ' || g FROM generate_series(1, 500) g",
                    database: database)
        // The seed's MinIO bucket is called schedgen-pdfs; tests share the server, so it may exist already.
        _ = try? S3Client(settings: s3.settings(bucket: "schedgen-pdfs"), environment: [:], component: "test").createBucket()
        _ = try s3.python("s3.put_object(Bucket='schedgen-pdfs', Key='tenant-1/invoice-1.pdf', Body=b'%PDF-1.4 ' + b'x' * 4096)")
        let offsite = try s3.makeBucket("offsite-env")
        let dir = try TemporaryDirectory("env-seed")
        defer { dir.remove() }
        try writeFile(dir.sub("pg-password"), pg.password + "\n", mode: 0o600)
        try writeFile(dir.sub("s3-secret"), s3.secretKey + "\n", mode: 0o600)
        let environment = [
            "BACKUP_NAME": "schedgen",
            "DATABASE_URL": "postgres://\(pg.user)@\(pg.host):\(pg.port)/\(database)", "BACKUP_PG_PASSWORD_FILE": dir.sub("pg-password"),
            "BACKUP_SOURCE_BUCKETS": "schedgen-pdfs", "BACKUP_SOURCE_S3_ENDPOINT": s3.endpoint, "BACKUP_SOURCE_S3_REGION": s3.region,
            "BACKUP_SOURCE_S3_ACCESS_KEY": s3.accessKey, "BACKUP_SOURCE_S3_SECRET_KEY_FILE": dir.sub("s3-secret"),
            "BACKUP_DIR": dir.sub("backups"),
            "BACKUP_OFFSITE_S3_ENDPOINT": s3.endpoint, "BACKUP_OFFSITE_S3_BUCKET": offsite, "BACKUP_OFFSITE_S3_PREFIX": "schedgen",
            "BACKUP_OFFSITE_S3_REGION": s3.region, "AWS_ACCESS_KEY_ID": s3.accessKey, "AWS_SECRET_ACCESS_KEY_FILE": dir.sub("s3-secret"),
        ]
        let result = try backupctl(["run", "--json"], in: dir.path, environment: environment.merging(["HOME": dir.path]) { $1 })
        #expect(result.status == 0, "\(result.stderr)")
        let local = BackupctlTests.finalNames(dir.sub("backups"))
        let timestamp = /[0-9]{8}_[0-9]{6}/
        #expect(local.contains { $0.hasPrefix("minio_schedgen-pdfs_") && $0.hasSuffix(".tar.gz") && $0.contains(timestamp) }, "\(local)")
        #expect(local.contains { $0.hasPrefix("db_\(database)_") && $0.hasSuffix(".sql.gz") }, "\(local)")
        let stored = try s3.python("print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='\(offsite)').get('Contents', [])))")
            .split(separator: "\n").map(String.init)
        for name in local where !name.hasPrefix(".") {
            #expect(stored.contains("schedgen/\(name)"), "\(name) is not in the off-site bucket: \(stored)")
        }
        #expect(!result.stdout.contains(s3.secretKey) && !result.stderr.contains(s3.secretKey))
    }
}
