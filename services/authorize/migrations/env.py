from common.migrations import run_env
from services.authorize.store.tables import metadata

run_env(metadata)
