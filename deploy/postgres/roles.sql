-- One login role and one schema per service; no role can touch another's schema
-- (docs/DESIGN.md, "Each service owns its schema"). Run once, as a superuser (or a
-- role with CREATEROLE that owns the database), connected to the database:
--
--   psql -v ON_ERROR_STOP=1 -d oauth2 -f deploy/postgres/roles.sql
--
-- Optional psql variables:
--   -v role_prefix=oauth2_     roles named oauth2_authorize, oauth2_token, ... (default: none)
--   -v password='...'          a password for every role (default: none; set one per role
--                              afterwards with \password <role>, or use your platform's
--                              IAM/certificate authentication)
-- Each service then connects as its role: <SERVICE>_DATABASE_URL=postgresql://<role>:...@host/oauth2
-- and its migrations (python -m services.<name> migrate) run as that role too, creating
-- the tables in the schema the role owns. Tested by tests/deploy/test_database_roles.py.

\if :{?role_prefix}
\else
\set role_prefix ''
\endif

\set authorize_role :role_prefix 'authorize'
\set token_role :role_prefix 'token'
\set clients_role :role_prefix 'clients'
\set admin_role :role_prefix 'admin'

BEGIN;

-- Nothing in public, nothing created by anyone but the owners below.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT current_database() AS db \gset
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;

CREATE ROLE :"authorize_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"token_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"clients_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"admin_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;

GRANT CONNECT ON DATABASE :"db" TO :"authorize_role", :"token_role", :"clients_role", :"admin_role";

-- Each role owns exactly its schema (the schema name is the service's; the
-- database_schema setting defaults to it) and reaches nothing else.
CREATE SCHEMA authorize AUTHORIZATION :"authorize_role";
CREATE SCHEMA token AUTHORIZATION :"token_role";
CREATE SCHEMA clients AUTHORIZATION :"clients_role";
CREATE SCHEMA admin AUTHORIZATION :"admin_role";

\if :{?password}
ALTER ROLE :"authorize_role" PASSWORD :'password';
ALTER ROLE :"token_role" PASSWORD :'password';
ALTER ROLE :"clients_role" PASSWORD :'password';
ALTER ROLE :"admin_role" PASSWORD :'password';
\endif

COMMIT;
