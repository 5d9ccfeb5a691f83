@echo off
rem Open a promotion pull request, e.g. promote.bat --from dev --to staging --service catalog (or --all)
rem Windows twin of scripts/deploy/promote.sh: runs `shopfloor promote` from the repository's .venv
rem (.venv\Scripts\shopfloor.exe), else shopfloor on PATH. Every argument is passed through.
setlocal
for %%I in ("%~dp0..\..") do set "REPO_ROOT=%%~fI"
if defined SHOPFLOOR_REPO set "REPO_ROOT=%SHOPFLOOR_REPO%"
set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"
if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"
"%SHOPFLOOR%" --repo "%REPO_ROOT%" promote %*
exit /b %ERRORLEVEL%
