import Foundation

/// A database with everything a dump must carry: several schemas, quoted and unicode identifiers,
/// large objects, sequences, views, functions, triggers, jsonb, bytea, an extension from contrib
/// (pgcrypto), and objects owned by a role of its own.
enum PostgresFixture {
    static func sql(role: String, rows: Int = 2000) -> String {
        """
        CREATE EXTENSION pgcrypto;
        CREATE SCHEMA sales;
        CREATE SCHEMA "Ünïcode Schema";
        CREATE TABLE sales.orders (
            id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), placed_at timestamptz DEFAULT now(),
            meta jsonb, receipt bytea, digest text
        );
        CREATE TABLE "Ünïcode Schema"."Tabulka Žluťoučká" ("Sloupec" text, "MixedCase" int, "quote""d" text);
        CREATE TABLE public.audit (id serial PRIMARY KEY, op text NOT NULL, at timestamptz DEFAULT now());
        CREATE TABLE public.empty_table (id int);
        CREATE SEQUENCE public.invoice_seq START 1000;
        SELECT nextval('public.invoice_seq'), nextval('public.invoice_seq'), nextval('public.invoice_seq');
        CREATE VIEW sales.big_orders AS SELECT id, customer, total FROM sales.orders WHERE total > 100;
        CREATE FUNCTION public.audit_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.audit(op) VALUES (TG_OP || ' ' || NEW.customer); RETURN NEW; END $$;
        CREATE TRIGGER orders_audit AFTER INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION public.audit_trigger();
        INSERT INTO sales.orders (customer, total, meta, receipt, digest)
            SELECT 'customer ' || i, i * 1.5, jsonb_build_object('i', i, 'tags', jsonb_build_array('a', 'ü', i % 7)),
                   gen_random_bytes(48), encode(digest('row ' || i, 'sha256'), 'hex')
            FROM generate_series(1, \(rows)) AS i;
        INSERT INTO "Ünïcode Schema"."Tabulka Žluťoučká" VALUES ('příliš', 1, 'a"b'), ('žluťoučký kůň', 2, NULL), ('名前', 3, '');
        SELECT lo_from_bytea(0, convert_to('large object one', 'UTF8'));
        SELECT lo_from_bytea(0, (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 12500) AS i));
        ALTER TABLE sales.orders OWNER TO \(role);
        ALTER SCHEMA sales OWNER TO \(role);
        GRANT SELECT ON public.audit TO \(role);
        """
    }

    /// Every table's rows as a digest, large objects' contents, and sequence positions: what must be equal
    /// between the source database and its restore.
    static let contentQuery = """
        SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
          SELECT format('%I.%I %s', n.nspname, c.relname,
                        (xpath('/row/d/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) AS d FROM %I.%I t', n.nspname, c.relname), false, false, '')))[1]::text) AS line
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
          UNION ALL
          SELECT format('lo %s %s', oid, md5(lo_get(oid))) FROM pg_largeobject_metadata
          UNION ALL
          SELECT format('seq %I.%I %s', schemaname, sequencename, last_value) FROM pg_sequences
        ) lines
        """
}
