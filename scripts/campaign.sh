#!/usr/bin/env bash
# The MNIST paper-profile campaign (issue 27) on this machine's CPU, a working day at a time: every
# (entry, seed 0-2) of ffrepro.queue.CAMPAIGN without a complete result, in that order, one process
# at a time on all cores, `nice -n 19` so tests and builds keep the cores.
#
#   scripts/campaign.sh start    resume (the default): from a git worktree pinned at a commit, so work
#                                on this checkout never changes the code under a running job (results
#                                record that commit); checkpoints outside the work tree, every epoch
#   scripts/campaign.sh status   what runs, its epoch and projected finish; finished seeds not yet landed
#   scripts/campaign.sh land     copy the worktree's finished seeds into this checkout's results/ and
#                                regenerate the README's table; commit them yourself, at once
#   scripts/campaign.sh stop     stop the queue and its job (each resumes from its last epoch)
#
# Settings (environment): CAMPAIGN_HOME (default ~/ffrepro-campaign: tree/, logs/, queue.log),
# FFREPRO_CHECKPOINTS (default ~/ffrepro-checkpoints), BUDGET minutes of training before the queue
# stops resumably (default 170: a session is 180), CAMPAIGN_COMMIT (pin the worktree at this commit
# instead of the one it has; default: a new worktree starts at HEAD, an existing one keeps its commit).
# A machine that still has the checkpoints resumes each run after its last epoch; a new machine starts
# the unfinished runs over.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
HOME_DIR=${CAMPAIGN_HOME:-$HOME/ffrepro-campaign}
TREE=$HOME_DIR/tree
export FFREPRO_CHECKPOINTS=${FFREPRO_CHECKPOINTS:-$HOME/ffrepro-checkpoints}
BUDGET=${BUDGET:-170}
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || { echo "campaign: no environment at $REPO/.venv: run \`make venv data\` first" >&2; exit 2; }

running_pid() { pgrep -f "ffrepro queue .*--campaign" | head -1 || true; }

case "${1:-start}" in
  start)
    if [ -n "$(running_pid)" ]; then echo "campaign: already running (pid $(running_pid)); \`$0 status\` says where" >&2; exit 2; fi
    mkdir -p "$HOME_DIR/logs" "$FFREPRO_CHECKPOINTS"
    if [ ! -d "$TREE" ]; then
      git worktree add --detach "$TREE" "${CAMPAIGN_COMMIT:-HEAD}" >/dev/null
    elif [ -n "${CAMPAIGN_COMMIT:-}" ]; then
      git -C "$TREE" checkout -q --detach "$CAMPAIGN_COMMIT"
    fi
    # results/ is where the queue writes (a seed stopped part-way leaves its partial result there); the
    # code must be the commit's, as results.CODE_STATUS judges it
    [ -z "$(git -C "$TREE" status --porcelain --untracked-files=no -- . ':!results')" ] || { echo "campaign: $TREE has uncommitted changes outside results/; results must record a clean commit" >&2; exit 2; }
    ln -sfn "$REPO/.venv" "$TREE/.venv"
    echo "campaign: $TREE at $(git -C "$TREE" rev-parse --short HEAD), checkpoints $FFREPRO_CHECKPOINTS, $BUDGET min; log $HOME_DIR/queue.log"
    # not `cd && job &`, whose forked list would hold this script's stdout until the job ends: a session of
    # its own, no inherited pipe, so `campaign.sh start | tail` returns at once
    (cd "$TREE" || exit 2; setsid nohup nice -n 19 "$PY" -m ffrepro queue --campaign --budget "$BUDGET" --log-dir "$HOME_DIR/logs" \
      </dev/null >>"$HOME_DIR/queue.log" 2>&1 &)
    ;;
  status)
    pid=$(running_pid)
    state="not running"; [ -n "$pid" ] && state="running (pid $pid)"
    echo "campaign: $state; tree $TREE at $(git -C "$TREE" rev-parse --short HEAD 2>/dev/null || echo none)"
    [ -f "$HOME_DIR/queue.log" ] && grep -E "started|done:|FAILED|running|not started" "$HOME_DIR/queue.log" | tail -5
    [ -n "$pid" ] && (cd "$TREE" && "$PY" -m ffrepro queue --campaign --progress --log-dir "$HOME_DIR/logs")
    (cd "$REPO" && "$PY" -m ffrepro queue --campaign --landable "$TREE/results")
    ;;
  land)
    (cd "$REPO" && "$PY" -m ffrepro queue --campaign --land "$TREE/results" && "$PY" -m ffrepro table --update-readme)
    git -C "$REPO" status --short results README.md
    ;;
  stop)
    pid=$(running_pid)
    [ -n "$pid" ] && pkill -TERM -P "$pid" && kill "$pid" && echo "campaign: stopped; \`$0 start\` resumes after each run's last epoch" || echo "campaign: not running"
    ;;
  *) echo "usage: $0 [start|status|land|stop]" >&2; exit 2 ;;
esac
