{
  "targets": [
    { "target_name": "malloc_tune", "sources": ["malloc-tune.c"] }
  ]
}
