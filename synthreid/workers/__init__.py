"""synthreid.workers: the render farm (catalog, tasks, dispatch, workers, status).

Nothing heavy is imported here; psycopg2, redis/rq and bpy are imported where they are used.
"""
