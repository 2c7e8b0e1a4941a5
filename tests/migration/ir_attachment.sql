-- The ir_attachment table exactly as Odoo 18.0 creates it (pg_dump -s of a database initialised with
-- `odoo-bin -i base`), minus the foreign keys to res_company/res_users that this suite has no tables for.
CREATE TABLE ir_attachment (
    id serial PRIMARY KEY,
    res_id integer,
    company_id integer,
    file_size integer,
    create_uid integer,
    write_uid integer,
    name character varying NOT NULL,
    res_model character varying,
    res_field character varying,
    type character varying NOT NULL,
    url character varying(1024),
    access_token character varying,
    store_fname character varying,
    checksum character varying(40),
    mimetype character varying,
    description text,
    index_content text,
    public boolean,
    create_date timestamp without time zone,
    write_date timestamp without time zone,
    db_datas bytea,
    original_id integer REFERENCES ir_attachment(id) ON DELETE SET NULL
);
CREATE INDEX ir_attachment__store_fname_index ON ir_attachment USING btree (store_fname);
CREATE INDEX ir_attachment__url_index ON ir_attachment USING btree (url) WHERE (url IS NOT NULL);
CREATE INDEX ir_attachment_res_idx ON ir_attachment USING btree (res_model, res_id);
