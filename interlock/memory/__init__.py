"""Every store interlock keeps: Redis threads and caches, LanceDB knowledge and memories."""
