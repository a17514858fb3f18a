# Shared by the launch scripts: print each command as a shell line, and run it unless --dry-run.
dry_run=0

quote() {  # the arguments as one shell line; those with special characters in single quotes
  local line="" arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      line+="$arg "
    else
      line+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  echo "${line% }"
}

run() {  # prints the command, then runs it unless --dry-run
  echo "+ $(quote "$@")"
  [[ $dry_run == 1 ]] || "$@"
}
