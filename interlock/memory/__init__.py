"""Every store interlock keeps: Redis short-term memory and caches, LanceDB knowledge and memories."""
